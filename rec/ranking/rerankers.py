"""Re-rankers: steps after retrieval that reorder (or trim) a strategy's candidates.

Each one says which strategies it applies to and how many candidates it needs
to see for a top-k, so retrieval fetches that many once. Filters (categories,
the user's seen items) are not re-rankers: they are pushed down into the
candidate search (the LanceDB query), so a filtered list is still k long.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from rec.storage.items_table import ScoredItem


class Reranker(Protocol):
    applies_to: frozenset[str]  # strategy names

    def pool(self, k: int) -> int:
        """How many retrieved candidates it needs to return a top-k."""
        ...

    def rerank(self, items: Sequence[ScoredItem], k: int) -> list[ScoredItem]:
        """The top-k of `items` (best first, at most pool(k) of them) in the new order."""
        ...


@dataclass(frozen=True)
class PopularityReranker:
    """The best `candidates` by score, re-scored as score + weight * log(1 + popularity).

    Items added live have no popularity yet: their score is the cosine alone.
    """

    weight: float
    candidates: int
    applies_to: frozenset[str] = frozenset({"interest"})

    def pool(self, k: int) -> int:
        return max(k, self.candidates)

    def rerank(self, items: Sequence[ScoredItem], k: int) -> list[ScoredItem]:
        rescored = [replace(item, score=item.score + self.weight * math.log1p(item.popularity)) for item in items]
        return sorted(rescored, key=lambda item: -item.score)[:k]  # stable: retrieval order on ties
