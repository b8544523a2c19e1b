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

import numpy as np

from rec.interest.shard import UserProfile
from rec.ranking.candidates import Candidates
from rec.storage.items_table import ScoredItem

USER_STRATEGIES = frozenset({"interest-model", "interest", "popular"})


class Reranker(Protocol):
    applies_to: frozenset[str]  # strategy names

    def pool(self, k: int, profile: UserProfile | None) -> int:
        """How many retrieved candidates it needs to return a top-k for `profile`."""
        ...

    def rerank(self, items: Sequence[ScoredItem], k: int, profile: UserProfile | None) -> list[ScoredItem]:
        """The top-k of `items` (best first, at most pool(k) of them) in the new order;
        `profile` is the user's (None for a query search)."""
        ...


@dataclass(frozen=True)
class PopularityReranker:
    """The best `candidates` by score, re-scored as score + weight * log(1 + popularity).

    Items added live have no popularity yet: their score is the cosine alone.
    """

    weight: float
    candidates: int
    applies_to: frozenset[str] = frozenset({"interest"})

    def pool(self, k: int, profile: UserProfile | None = None) -> int:
        return max(k, self.candidates)

    def rerank(self, items: Sequence[ScoredItem], k: int, profile: UserProfile | None = None) -> list[ScoredItem]:
        rescored = [replace(item, score=item.score + self.weight * math.log1p(item.popularity)) for item in items]
        return _best(rescored, k)


@dataclass(frozen=True)
class DislikeReranker:
    """Items like the user's recent dislikes and skips fall.

    An item's closeness to its nearest recent negative is how far its text vector's
    cosine rises above `floor` (unrelated films of one catalogue sit near 0.45), as a
    share of the way to 1; its score falls by `weight` times that closeness times the
    spread of the candidates' scores. So the penalty does not depend on a strategy's
    score scale: at weight 1 a near-copy of a disliked item goes to the bottom.
    """

    text: Candidates  # the text vectors closeness is measured in, whatever space the strategy ranks in
    weight: float
    floor: float
    candidates: int
    applies_to: frozenset[str] = USER_STRATEGIES

    def pool(self, k: int, profile: UserProfile | None = None) -> int:
        return max(k, self.candidates) if profile is not None and profile.recent_negatives else k

    def rerank(self, items: Sequence[ScoredItem], k: int, profile: UserProfile | None = None) -> list[ScoredItem]:
        negatives = profile.recent_negatives if profile is not None else ()
        vectors = self.text.vectors([*negatives, *(item.item_id for item in items)]) if negatives and items else {}
        disliked = [vectors[i] for i in negatives if i in vectors]
        if not disliked:
            return list(items[:k])
        disliked = np.stack(disliked)  # (R, E)
        zero = np.zeros(disliked.shape[1], np.float32)  # an item without a text vector is close to nothing
        matrix = np.stack([vectors.get(item.item_id, zero) for item in items])  # (P, E)
        nearest = (matrix @ disliked.T).max(axis=1)  # (P,) cosine to the closest negative
        closeness = np.clip((nearest - self.floor) / (1.0 - self.floor), 0.0, 1.0)
        scores = np.array([item.score for item in items])
        penalty = self.weight * (scores.max() - scores.min()) * closeness
        return _best([replace(item, score=float(s)) for item, s in zip(items, scores - penalty)], k)


def _best(items: list[ScoredItem], k: int) -> list[ScoredItem]:
    return sorted(items, key=lambda item: -item.score)[:k]  # stable: retrieval order on ties
