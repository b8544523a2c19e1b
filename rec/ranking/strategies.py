"""Strategies: each turns a user's profile into retrieved candidates, or passes.

A strategy answers with a ranked list (possibly empty) or None when it cannot
answer for this user, so the policy (rec/ranking/pipeline.py) tries the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rec.interest.queries import ModelQueries
from rec.interest.shard import UserProfile
from rec.ranking.candidates import Candidates
from rec.storage.items_table import ScoredItem


@dataclass(frozen=True)
class RankRequest:
    """What to rank for: how many, within which categories (any of them), minus which items."""

    k: int
    categories: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()


class Strategy(Protocol):
    name: str  # the `strategy` an answer names
    version: str | None  # the model version behind it, if any

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        """The best `n` candidates for the profile, best first; None = cannot answer."""
        ...


@dataclass(frozen=True)
class InterestModelStrategy:
    """The interest-evolution model's query vector over its own scoring vectors."""

    queries: ModelQueries
    candidates: Candidates  # the model's space: its scoring table plus new items' projections
    version: str | None = None
    name: str = "interest-model"

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        query = self.queries.query_vector(profile.recent_items, profile.recent_timestamps)
        if query is None:  # no item of the history is known to the model
            return None
        return self.candidates.search(query, n, exclude=request.exclude, categories=request.categories)


@dataclass(frozen=True)
class InterestVectorStrategy:
    """The per-event interest vector (rec/interest/rule.py) over the item text vectors."""

    candidates: Candidates
    version: str | None = None
    name: str = "interest"

    def retrieve(self, profile: UserProfile, request: RankRequest, n: int) -> list[ScoredItem] | None:
        if profile.interest is None:  # no positive event yet
            return None
        return self.candidates.search(profile.interest, n, exclude=request.exclude, categories=request.categories)


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
        ][:n]
