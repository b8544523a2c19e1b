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

from rec.interest.profile import UserProfile
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


@dataclass(frozen=True)
class CalibrationReranker:
    """Steck's calibrated re-rank (RecSys 2018): the top-k's category mix follows the mix of
    the user's last `recent` positive items.

    Greedily, each next item maximises (1 - weight) * its score (min-max scaled over the
    candidates) - weight * KL(p || q~), where p is the recent items' category distribution,
    q the list's so far with this item, and q~ = (1 - alpha) q + alpha p keeps it finite.
    An item's categories share its one unit of mass.
    """

    text: Candidates  # where the recent items' categories are looked up
    weight: float
    recent: int
    candidates: int
    alpha: float = 0.01
    applies_to: frozenset[str] = frozenset({"interest-model", "interest"})

    def pool(self, k: int, profile: UserProfile | None = None) -> int:
        return max(k, self.candidates) if profile is not None and profile.recent_items else k

    def rerank(self, items: Sequence[ScoredItem], k: int, profile: UserProfile | None = None) -> list[ScoredItem]:
        recent = profile.recent_items[-self.recent:] if profile is not None else ()
        history = self.text.categories(recent) if recent and items else {}
        names = sorted({c for cats in history.values() for c in cats} | {c for i in items for c in i.categories})
        if not history or not names:
            return list(items[:k])
        column = {name: j for j, name in enumerate(names)}
        target = _category_mass(history.values(), column).mean(axis=0)  # (G,) p
        mass = _category_mass((item.categories for item in items), column)  # (P, G)
        scores = np.array([item.score for item in items])
        scaled = (scores - scores.min()) / max(float(np.ptp(scores)), 1e-12)  # (P,) in [0, 1]
        chosen: list[int] = []
        listed = np.zeros(len(names))
        free = np.ones(len(items), dtype=bool)
        for size in range(1, min(k, len(items)) + 1):
            mix = (1 - self.alpha) * (listed + mass) / size + self.alpha * target  # (P, G) q~ with each item
            ratio = np.divide(target, mix, out=np.ones_like(mix), where=target > 0)  # 1 (log 0) where p is 0
            kl = (target * np.log(ratio)).sum(axis=1)  # (P,) KL(p || q~) with each item
            gain = np.where(free, (1 - self.weight) * scaled - self.weight * kl, -np.inf)
            best = int(np.argmax(gain))
            chosen.append(best)
            listed += mass[best]
            free[best] = False
        return [items[i] for i in chosen]


def _category_mass(categories, column: dict[str, int]) -> np.ndarray:
    """(n, G): each item's unit of mass spread evenly over its categories (none: no mass)."""
    rows = []
    for cats in categories:
        row = np.zeros(len(column))
        for c in cats:
            row[column[c]] += 1.0 / len(cats)
        rows.append(row)
    return np.array(rows).reshape(-1, len(column))


def _best(items: list[ScoredItem], k: int) -> list[ScoredItem]:
    return sorted(items, key=lambda item: -item.score)[:k]  # stable: retrieval order on ties


@dataclass(frozen=True)
class Diversifier:
    """Maximal marginal relevance (Carbonell and Goldstein 1998) over the best `candidates`:
    each next item maximises (1 - d) * score - d * its highest text cosine with the items
    already listed, the score scaled to [0, 1] over the candidates; d = 0 keeps the order,
    d = 1 spreads the list as far as the candidates allow. The pipeline runs it last, with
    the diversity each request asks for."""

    text: Candidates  # the item text vectors: what "alike" means
    candidates: int

    def pool(self, k: int, diversity: float) -> int:
        return max(k, self.candidates) if diversity > 0 else k

    def rerank(self, items: Sequence[ScoredItem], k: int, diversity: float) -> list[ScoredItem]:
        if diversity <= 0 or len(items) <= 1:
            return list(items[:k])
        vectors = self.text.vectors([item.item_id for item in items])
        kept = [item for item in items if item.item_id in vectors]
        if len(kept) <= 1:
            return list(items[:k])
        matrix = np.stack([vectors[item.item_id] for item in kept])  # (P, D) unit rows
        similarity = matrix @ matrix.T  # (P, P)
        scores = np.array([item.score for item in kept])
        scaled = (scores - scores.min()) / max(float(np.ptp(scores)), 1e-12)  # (P,) in [0, 1]
        closest = np.full(len(kept), -np.inf)  # (P,) highest cosine with a listed item
        free = np.ones(len(kept), dtype=bool)
        chosen: list[int] = []
        for _ in range(min(k, len(kept))):
            penalty = np.where(np.isfinite(closest), closest, 0.0)
            gain = np.where(free, (1 - diversity) * scaled - diversity * penalty, -np.inf)
            best = int(np.argmax(gain))
            chosen.append(best)
            free[best] = False
            closest = np.maximum(closest, similarity[best])
        return [kept[i] for i in chosen]
