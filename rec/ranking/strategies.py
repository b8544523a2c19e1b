"""Strategies: each turns a user's profile into retrieved candidates, or passes.

A strategy answers with a ranked list (possibly empty) or None when it cannot
answer for this user, so the policy (rec/ranking/pipeline.py) tries the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from rec.interest.queries import ModelQueries
from rec.interest.profile import UserProfile
from rec.interest.stated import stated_share
from rec.ranking.candidates import Candidates
from rec.catalog.filters import NO_FILTER, AttributeFilter
from rec.storage.items_table import ScoredItem


@dataclass(frozen=True)
class RankRequest:
    """What to rank for: how many, within which categories (any of them) and attribute filters
    (year, the declared attributes), minus which items, after skipping the first `offset` (a
    page: the same ranking for an unchanged state)."""

    k: int
    categories: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    offset: int = 0
    diversity: float = 0.0  # 0 = by score alone; up to 1 = as varied as the candidates allow
    filters: AttributeFilter = NO_FILTER

    @property
    def depth(self) -> int:
        """How many to rank: the page and every item before it."""
        return self.offset + self.k


class Strategy(Protocol):
    name: str  # the `strategy` an answer names
    version: str | None  # the model version behind it, if any

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        """The best `n` candidates for the profile, best first; None = cannot answer."""
        ...


@dataclass(frozen=True)
class InterestModelStrategy:
    """The interest-evolution model's query vector over its own scoring vectors.

    With `text_weight` w > 0 it is blended with the per-event interest vector: the best
    `blend_candidates` of each are pooled and ranked by z(model score) + w * z(cosine of
    the interest vector), each standardised over the pool, so the list also follows the
    latest events' text (the model reads the history, but weighs what is usually next).
    With `blend_focus` t > 0, w counts only as far as the interest is focused on one
    category: by (focus - t) / (1 - t), clipped to [0, 1], where focus is the largest
    share of one category among the recent items, each weighted by what it makes of the
    interest vector now (so a long pause leaves the older items little say). A user who
    likes a run of one genre sees it; a spread-out history keeps the model's ranking.
    A stated interest adds `stated_weight` times its share of the interest vector to w,
    so what the user said counts most while they have done little.
    """

    queries: ModelQueries
    candidates: Candidates  # the model's space: its scoring table plus new items' projections
    version: str | None = None
    name: str = "interest-model"
    text: Candidates | None = None  # the item text vectors, for the blend
    text_weight: float = 0.0
    blend_candidates: int = 100
    blend_history: int = 0  # > 0: the weight shrinks as blend_history / events beyond that many events
    blend_focus: float = 0.0  # > 0: the focus at which the blend starts (above)
    focus_min_events: int = 3  # fewer recent items than this: no focus yet
    stated_weight: float = 0.0
    stated_half_life_events: float = 1.0

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        return self.blended(profile, request, n, self.blend_weight(profile))

    def prefetch(self, profiles: Sequence[UserProfile]) -> None:
        """The model's queries for these profiles in one pass, for the retrieve calls to come."""
        self.queries.prefetch([(p.recent_items, p.recent_timestamps) for p in profiles])

    def blended(self, profile: UserProfile, request: RankRequest, n: int, weight: float) -> list[ScoredItem] | None:
        """The best `n` by z(model score) + weight * z(cosine of profile.interest); None when
        the model knows no item of the history."""
        query = self.queries.query_vector(profile.recent_items, profile.recent_timestamps)
        if query is None:  # no item of the history is known to the model
            return None
        if self.text is None or weight <= 0 or profile.interest is None:
            return _search(self.candidates, query, n, request)
        pool = max(n, self.blend_candidates)
        by_model = _search(self.candidates, query, pool, request)
        by_text = _search(self.text, profile.interest, pool, request)
        items = {item.item_id: item for item in [*by_text, *by_model]}  # the model's row where both have one
        ids = list(items)
        model_vectors, text_vectors = self.candidates.vectors(ids), self.text.vectors(ids)
        ids = [i for i in ids if i in model_vectors and i in text_vectors]
        model = np.array([model_vectors[i] @ query for i in ids])  # (P,)
        text = np.array([text_vectors[i] @ profile.interest for i in ids])  # (P,)
        blended = _standardised(model) + weight * _standardised(text)
        order = np.argsort(-blended, kind="stable")[:n]
        return [replace(items[ids[j]], score=float(blended[j])) for j in order]

    def score_parts(
        self, profiles: Sequence[UserProfile], item_ids: Sequence[str],
    ) -> list[list[tuple[np.ndarray, float]]]:
        """The items' scores for each profile, as (part, weight): the model's dot product, and
        the interest vector's cosine with the blend weight when the blend is on (explanations).
        One batched forward pass for all the profiles."""
        queries = self.queries.query_vectors([(p.recent_items, p.recent_timestamps) for p in profiles])
        parts = []
        for profile, query in zip(profiles, queries):
            model, weight = _dots(self.candidates, item_ids, query), self.blend_weight(profile)
            if self.text is None or weight <= 0 or profile.interest is None:
                parts.append([(model, 1.0)])
            else:
                parts.append([(model, 1.0), (_dots(self.text, item_ids, profile.interest), weight)])
        return parts

    def blend_weight(self, profile: UserProfile) -> float:
        """The weight of the interest vector's cosine against the model's score."""
        weight = self.text_weight
        if self.blend_history and len(profile.recent_items) > self.blend_history:
            weight *= self.blend_history / len(profile.recent_items)
        if self.blend_focus > 0 and weight > 0:
            focus = category_focus(profile, self.text, self.focus_min_events) if self.text is not None else 0.0
            weight *= min(max((focus - self.blend_focus) / (1.0 - self.blend_focus), 0.0), 1.0)
        return weight + self.stated_weight * stated_share(profile, self.stated_half_life_events)


FOCUS_ITEMS = 20  # the recent items a focus looks at: older ones make almost nothing of the vector


def category_focus(profile: UserProfile, text: Candidates, min_events: int) -> float:
    """The largest share of one category among the profile's recent positive items, each
    weighted by its coefficient in the interest vector (rec/interest/rule.py); 0 with fewer
    than `min_events` of them. An item with several categories counts fully for each."""
    items = profile.recent_items[-FOCUS_ITEMS:]
    if len(items) < min_events:
        return 0.0
    weights = profile.recent_coefficients[-FOCUS_ITEMS:] or (1.0,) * len(items)
    categories = text.categories(items)
    mass: dict[str, float] = {}
    for item, weight in zip(items, weights):
        for category in set(categories.get(item, ())):
            mass[category] = mass.get(category, 0.0) + weight
    return max(mass.values(), default=0.0) / max(sum(weights), 1e-12)


def _search(candidates: Candidates, query: np.ndarray, n: int, request: RankRequest) -> list[ScoredItem]:
    """The best `n` of `candidates` for `query` that the request allows."""
    return candidates.search(query, n, exclude=request.exclude, categories=request.categories, filters=request.filters)


def _dots(candidates: Candidates, item_ids: Sequence[str], query: np.ndarray | None) -> np.ndarray:
    """(k,) dot products of the items' vectors with `query` (0 without a query or a vector)."""
    if query is None:
        return np.zeros(len(item_ids))
    vectors = candidates.vectors(item_ids)
    return np.array([float(vectors[i] @ query) if i in vectors else 0.0 for i in item_ids])


def _standardised(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean()) / max(float(scores.std()), 1e-12)


@dataclass(frozen=True)
class InterestVectorStrategy:
    """The per-event interest vector (rec/interest/rule.py) over the item text vectors."""

    candidates: Candidates
    version: str | None = None
    name: str = "interest"

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        if profile.interest is None:  # no positive event yet
            return None
        return _search(self.candidates, profile.interest, n, request)

    def score_parts(
        self, profiles: Sequence[UserProfile], item_ids: Sequence[str],
    ) -> list[list[tuple[np.ndarray, float]]]:
        """The items' cosines with each profile's interest vector (explanations)."""
        return [[(_dots(self.candidates, item_ids, profile.interest), 1.0)] for profile in profiles]


@dataclass(frozen=True)
class PopularStrategy:
    """The most popular items: answers for anyone, so it comes last."""

    popular: Sequence[ScoredItem]  # best first
    version: str | None = None
    name: str = "popular"

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        wanted = request.categories
        return [
            item for item in self.popular
            if item.item_id not in request.exclude and (not wanted or wanted.intersection(item.categories))
            and (not request.filters or request.filters.holds(item.attribute_values()))
        ][:n]
