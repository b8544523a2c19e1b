"""The ranking pipeline that the Serve app and the offline harness both call.

    profile -> its stated interest blended in -> policy: the first strategy that can
            answer -> its candidates -> the re-rankers that apply to it -> top-k,
            naming the strategy

The live app builds one per live bundle (serve/live.py) over the pinned
LanceDB tables; the harness (rec/evaluation/harness.py) builds one with
`build_pipeline` too, over the same rows in memory, so offline figures are
those of the served ranking by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rec.config import InterestConfig
from rec.interest.queries import ModelQueries
from rec.interest.profile import UserProfile
from rec.interest.stated import with_stated_interest
from rec.ranking.candidates import Candidates
from rec.ranking.explanations import Reason, explain
from rec.ranking.multi_interest import MultiInterestMerge
from rec.ranking.rerankers import CalibrationReranker, DislikeReranker, Diversifier, PopularityReranker, Reranker
from rec.ranking.strategies import (
    InterestModelStrategy, InterestVectorStrategy, PopularStrategy, RankRequest, Strategy,
)
from rec.ranking.text_interests import COVER_POOL, COVER_TOP, interleave, leaves_out
from rec.storage.items_table import ScoredItem


@dataclass(frozen=True)
class Ranking:
    """A ranked answer and what made it."""

    strategy: str
    items: list[ScoredItem]
    model_version: str | None = None
    by_interests: bool = False  # free text answered by each interest it names in turn, not as a whole


class RankingPipeline:
    """Strategies tried in order (the policy), then the re-ranker chain."""

    def __init__(
        self, strategies: Sequence[Strategy], rerankers: Sequence[Reranker] = (), stated_half_life_events: float = 1.0,
        text: Candidates | None = None, diversifier: Diversifier | None = None,
        text_query_history: int = 0, text_query_blend: float = 0.0,
    ) -> None:
        self.strategies, self.rerankers = list(strategies), list(rerankers)
        self.stated_half_life_events = stated_half_life_events
        self.text = text  # the item text vectors: what explanations take a history item's share with
        self.diversifier = diversifier  # the last step, as diverse as each request asks
        # Free text through the interest model: its nearest items as a history, blended (search_text).
        self.text_query_history, self.text_query_blend = text_query_history, text_query_blend

    def recommend(self, profile: UserProfile, request: RankRequest) -> Ranking:
        """Top-k for the user, without the items they already touched."""
        profile = with_stated_interest(profile, self.stated_half_life_events)
        request = replace(request, exclude=request.exclude | profile.seen_items)
        depth = self._diverse_pool(request)
        for strategy in self.strategies:
            chain = self._chain(strategy.name)
            items = strategy.retrieve(profile, request, self._pool(chain, depth, profile))
            if items is not None:
                ranked = self._diversify(self._rerank(chain, items, depth, profile), request)
                return Ranking(strategy.name, ranked[request.offset:], strategy.version)
        raise LookupError("no strategy answered: the pipeline needs one that always does (popular)")

    def prefetch(self, profiles: Sequence[UserProfile]) -> None:
        """Compute together what the strategies can for these profiles' recommend calls to come
        (the interest model's forward pass): the service's concurrent requests share it."""
        for strategy in self.strategies:
            if hasattr(strategy, "prefetch"):
                strategy.prefetch(profiles)

    def explain(self, profile: UserProfile, ranking: Ranking, recent: int = 10) -> list[tuple[Reason, ...]]:
        """Each item's reasons in `ranking` (recommend's answer for `profile`): the recent items
        and stated interest without which the answering strategy would score it lower
        (rec/ranking/explanations.py); none for popular items."""
        strategy = next((s for s in self.strategies if s.name == ranking.strategy), None)
        score_parts = getattr(strategy, "score_parts", None)
        if score_parts is None or self.text is None:
            return [()] * len(ranking.items)

        def blended(profiles: Sequence[UserProfile], item_ids: Sequence[str]) -> list[list[tuple[np.ndarray, float]]]:
            return score_parts([with_stated_interest(p, self.stated_half_life_events) for p in profiles], item_ids)

        return explain(blended, profile, [item.item_id for item in ranking.items], self.text.vectors, recent)

    def search(self, strategy: str, candidates: Candidates, query: np.ndarray, request: RankRequest) -> Ranking:
        """Top-k items nearest to a query vector (free text, an item), as `strategy` names them."""
        chain, depth = self._chain(strategy), self._diverse_pool(request)
        items = candidates.search(query, self._pool(chain, depth, None), request.exclude, request.categories,
                                  request.filters)
        return Ranking(strategy, self._diversify(self._rerank(chain, items, depth, None), request)[request.offset:])

    def search_text(self, query: np.ndarray, request: RankRequest, interests: Sequence[np.ndarray] = ()) -> Ranking:
        """Items for a free-text interest (`query`: its unit text vector), named "text".
        `interests`: the unit vectors of the interests the text names, when it names several
        (rec/ranking/text_interests.py): if the whole text's list leaves one out, each is ranked
        alone by cosine and the rankings interleaved. Otherwise, with the interest model live,
        the text's `text_query_history` nearest items are read by the model as a user's history
        would be, and its scores blended with the text's cosine (text_query_blend): what people
        who like such items go on to like, on the text's subject. Without a model, or with
        text_query_history 0, the cosine alone."""
        if len(interests) > 1 and self.text is not None:
            split = self._split_text(query, interests, request)
            if split is not None:
                return split
        model = next((s for s in self.strategies if isinstance(s, InterestModelStrategy)), None)
        if model is None or self.text is None or self.text_query_history == 0:
            return self.search("text", self.text, query, request)
        nearest = self.text.search(query, self.text_query_history, categories=request.categories, filters=request.filters)
        history = tuple(item.item_id for item in reversed(nearest))  # the nearest read as the latest
        profile = UserProfile("free-text", query, frozenset(), history, tuple(60.0 * n for n in range(len(history))), 0)
        chain, depth = self._chain("text"), self._diverse_pool(request)
        items = model.blended(profile, request, self._pool(chain, depth, None), self.text_query_blend)
        if items is None:  # the model knows none of them (new items only)
            return self.search("text", self.text, query, request)
        return Ranking("text", self._diversify(self._rerank(chain, items, depth, None), request)[request.offset:],
                       model.version)

    def _split_text(self, query: np.ndarray, interests: Sequence[np.ndarray], request: RankRequest) -> Ranking | None:
        """The interests' cosine rankings interleaved, if the whole text's top leaves one out.
        Each interest is ranked once, deep enough for both the check and the page (a ranking's
        first n do not depend on how many more it holds)."""
        first = replace(request, offset=0)
        own = [self.search("text", self.text, v, replace(first, k=max(COVER_POOL, request.depth))).items
               for v in interests]
        whole = self.search("text", self.text, query, replace(first, k=COVER_TOP)).items
        if not leaves_out(whole, own):
            return None
        return Ranking("text", interleave(own, request.depth)[request.offset:], by_interests=True)

    def _diverse_pool(self, request: RankRequest) -> int:
        """How many the re-ranker chain must hand on: the diversifier's candidates when it runs."""
        return self.diversifier.pool(request.depth, request.diversity) if self.diversifier else request.depth

    def _diversify(self, items: list[ScoredItem], request: RankRequest) -> list[ScoredItem]:
        if self.diversifier is None:
            return items[:request.depth]
        return self.diversifier.rerank(items, request.depth, request.diversity)

    def _chain(self, strategy: str) -> list[Reranker]:
        return [reranker for reranker in self.rerankers if strategy in reranker.applies_to]

    @staticmethod
    def _pool(chain: Sequence[Reranker], k: int, profile: UserProfile | None) -> int:
        return max([k, *(reranker.pool(k, profile) for reranker in chain)])

    @staticmethod
    def _rerank(
        chain: Sequence[Reranker], items: list[ScoredItem], k: int, profile: UserProfile | None,
    ) -> list[ScoredItem]:
        for position, reranker in enumerate(chain):
            # each re-ranker passes on as many as the rest of the chain needs
            rest = max([k, *(later.pool(k, profile) for later in chain[position + 1:])])
            items = reranker.rerank(items, rest, profile)
        return items[:k]


def build_pipeline(
    interest: InterestConfig, text: Candidates, popular: Sequence[ScoredItem],
    model: tuple[ModelQueries, Candidates, str | None] | None = None,
) -> RankingPipeline:
    """The policy of the service: the interest model when one is live and knows the user's
    items, else the per-event interest vector, else popular items.

    `text`: the item text vectors' candidates; `model`: (its queries, the candidates in its
    scoring space, its version tag), or None without a live model.
    """
    strategies: list[Strategy] = []
    if model is not None:
        queries, scoring, version = model
        strategies.append(InterestModelStrategy(queries, scoring, version, text=text,
                                                text_weight=interest.text_blend, blend_candidates=interest.blend_candidates,
                                                blend_history=interest.blend_history,
                                                blend_focus=interest.blend_focus,
                                                focus_min_events=interest.focus_min_events,
                                                stated_weight=interest.stated_model_weight,
                                                stated_half_life_events=interest.stated_half_life_events))
    strategies += [InterestVectorStrategy(text), PopularStrategy(popular)]
    rerankers: list[Reranker] = []
    if interest.popularity_weight > 0:
        rerankers.append(PopularityReranker(interest.popularity_weight, interest.popularity_candidates))
    if interest.dislike_weight > 0:
        rerankers.append(DislikeReranker(text, interest.dislike_weight, interest.dislike_floor,
                                         interest.dislike_candidates))
    if interest.calibration_weight > 0:
        rerankers.append(CalibrationReranker(text, interest.calibration_weight, interest.calibration_recent,
                                             interest.calibration_candidates))
    if interest.multi_interests > 1:
        rerankers.append(MultiInterestMerge(text, interest.multi_interests, interest.multi_interest_join,
                                            interest.multi_interest_min_share, interest.multi_interest_recent,
                                            interest.multi_interest_candidates,
                                            interest.multi_interest_strategy_weight))
    return RankingPipeline(strategies, rerankers, interest.stated_half_life_events, text,
                           Diversifier(text, interest.diversity_candidates),
                           interest.text_query_history, interest.text_query_blend)
