"""Interest-following scenarios: does a fresh user's list follow what they just liked?

A fresh user likes the n most popular items of category A (a minute apart),
then, a day later, the m most popular of category B (items in both are left
out of both). After each step the top-10 is ranked by the pipeline under test
(rec/ranking/pipeline.py, with profiles made by the service's per-event rule)
and the share of A and of B in it is recorded. Averaged over category pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rec.config import InterestConfig
from rec.evaluation.harness import EvalData
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.pipeline import RankingPipeline
from rec.ranking.strategies import RankRequest

# Category pairs of MovieLens-100k with at least 25 items each, far apart and close.
PAIRS = (
    ("Sci-Fi", "Children's"), ("Horror", "Romance"), ("Comedy", "War"), ("Action", "Musical"),
    ("Thriller", "Animation"), ("Drama", "Sci-Fi"), ("Children's", "Crime"), ("Romance", "Horror"),
    ("Western", "Comedy"), ("Documentary", "Adventure"),
)
STEPS = (1, 3, 5, 10)
DAY = 86_400.0


@dataclass(frozen=True)
class ScenarioRow:
    """Mean top-10 shares over the pairs after `likes_a` likes of A, then `likes_b` of B."""

    likes_a: int
    likes_b: int
    share_a: float
    share_b: float


def most_popular_in(data: EvalData, counts: np.ndarray, category: str, other: str, n: int) -> list[str]:
    """The `n` most popular items (by `counts`, (N,)) in `category` and not in `other`."""
    columns = [c for c in np.argsort(-counts, kind="stable")
               if category in data.item_categories[c] and other not in data.item_categories[c]]
    return [str(data.item_index.ids[c]) for c in columns[:n]]


def _share(pipeline: RankingPipeline, state: InterestState, categories: dict[str, tuple[str, ...]],
           wanted: Sequence[str], diversity: float = 0.0) -> list[float]:
    top = pipeline.recommend(user_profile("scenario-user", state), RankRequest(10, diversity=diversity)).items
    return [float(np.mean([c in categories[item.item_id] for item in top])) if top else 0.0 for c in wanted]


def run_scenarios(
    pipeline: RankingPipeline, data: EvalData, counts: np.ndarray, config: InterestConfig, history_length: int,
    pairs: Sequence[tuple[str, str]] = PAIRS, steps: Sequence[int] = STEPS,
) -> list[ScenarioRow]:
    """Rows for n likes of A alone (n in `steps`), then for max(steps) likes of A and m of B."""
    columns = {str(item): col for col, item in enumerate(data.item_index.ids)}
    categories = {str(item): cats for item, cats in zip(data.item_index.ids, data.item_categories)}
    most = max(steps)
    totals: dict[tuple[int, int], np.ndarray] = {}
    for a, b in pairs:
        state, now = InterestState.empty(data.item_vectors.shape[1]), 1_000_000.0
        for phase, (category, other) in enumerate(((a, b), (b, a))):
            now += DAY * phase
            for n, item in enumerate(most_popular_in(data, counts, category, other, most), start=1):
                now += 60.0
                apply_event(state, item, data.item_vectors[columns[item]], "like", now, config, history_length)
                if n in steps:
                    key = (n, 0) if phase == 0 else (most, n)
                    totals[key] = totals.get(key, 0.0) + np.asarray(_share(pipeline, state, categories, (a, b), config.diversity))
    return [ScenarioRow(k[0], k[1], *(v / len(pairs))) for k, v in sorted(totals.items(), key=lambda kv: kv[0][::-1])]


def scenario_table(results: dict[str, list[ScenarioRow]]) -> str:
    """One column pair per pipeline: the top-10 share of A and of B after each step."""
    names = list(results)
    header = ["likes of A, then of B", *(f"{name}: A / B" for name in names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(results[names[0]]):
        cells = [f"{results[n][i].share_a:.2f} / {results[n][i].share_b:.2f}" for n in names]
        lines.append(f"| {row.likes_a}, then {row.likes_b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class MixedRow:
    """Two interests at once, over the pairs: mean top-10 shares, and how often both got 3 of 10."""

    share_a: float
    share_b: float
    both_at_least_3: float


def run_mixed(
    pipeline: RankingPipeline, data: EvalData, counts: np.ndarray, config: InterestConfig, history_length: int,
    pairs: Sequence[tuple[str, str]] = PAIRS, likes: int = 5,
) -> MixedRow:
    """A fresh user likes the `likes` most popular items of A and of B in turn (A, B, A, ...),
    a minute apart; then their top-10 is ranked."""
    columns = {str(item): col for col, item in enumerate(data.item_index.ids)}
    categories = {str(item): cats for item, cats in zip(data.item_index.ids, data.item_categories)}
    shares = []
    for a, b in pairs:
        state, now = InterestState.empty(data.item_vectors.shape[1]), 1_000_000.0
        liked = zip(most_popular_in(data, counts, a, b, likes), most_popular_in(data, counts, b, a, likes))
        for item in (i for both in liked for i in both):
            now += 60.0
            apply_event(state, item, data.item_vectors[columns[item]], "like", now, config, history_length)
        shares.append(_share(pipeline, state, categories, (a, b), config.diversity))
    shares = np.asarray(shares)
    return MixedRow(float(shares[:, 0].mean()), float(shares[:, 1].mean()), float((shares.min(axis=1) >= 0.3).mean()))


def mixed_table(results: dict[str, MixedRow]) -> str:
    lines = ["| setting | share of A | share of B | both >= 3 of 10 |", "|---|---|---|---|"]
    lines += [f"| {name} | {r.share_a:.2f} | {r.share_b:.2f} | {r.both_at_least_3:.2f} |"
              for name, r in results.items()]
    return "\n".join(lines)
