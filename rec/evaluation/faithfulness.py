"""How faithful explanations are: the share of listed items whose score falls when the
user's likes of their top reason are taken out and their state is rebuilt from the rest.

Fresh users each like 20 of the 300 most popular items, a minute apart, through the
service's per-event rule; the pipeline under test ranks their top-10 and explains it
(rec/ranking/explanations.py). The score is the answering strategy's, before re-ranks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rec.config import InterestConfig
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import UserProfile, user_profile
from rec.ranking.pipeline import RankingPipeline
from rec.ranking.strategies import RankRequest


def liked_profile(
    liked: Mapping[str, tuple[np.ndarray, float]], config: InterestConfig, history_length: int,
) -> UserProfile:
    """A fresh user who liked these items ((vector, time) by id), in order."""
    state = InterestState.empty(len(next(iter(liked.values()))[0]))
    for item, (vector, at) in liked.items():
        apply_event(state, item, vector, "like", at, config, history_length)
    return user_profile("u", state)


def explanation_faithfulness(
    pipeline: RankingPipeline, vectors: Mapping[str, np.ndarray], popular: list[str], config: InterestConfig,
    history_length: int, users: int = 60, seed: int = 0,
) -> tuple[float, int]:
    """(share of explained items whose score falls without their top reason, how many were explained)."""
    rng = np.random.default_rng(seed)
    falls = []
    for _ in range(users):
        picked = [str(i) for i in rng.choice(popular[:300], size=20, replace=False)]
        liked = {item: (vectors[item], 1000.0 + 60 * t) for t, item in enumerate(picked)}
        profile = liked_profile(liked, config, history_length)
        ranking = pipeline.recommend(profile, RankRequest(10))
        strategy = next(s for s in pipeline.strategies if s.name == ranking.strategy)
        for item, reasons in zip(ranking.items, pipeline.explain(profile, ranking)):
            if reasons:
                others = {i: v for i, v in liked.items() if i != reasons[0].item_id}
                rest = liked_profile(others, config, history_length)
                before, after = (strategy.score_parts([p], [item.item_id])[0][0][0][0] for p in (profile, rest))
                falls.append(after < before)
    return float(np.mean(falls)) if falls else 0.0, len(falls)
