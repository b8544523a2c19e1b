"""Several interests per user (after PinnerSage, Pal et al. KDD 2020): the recent positive
items are grouped into interests by their text vectors, and each interest that holds
enough of the user's recent weight gets its share of the list.

    recent items -> average-link clusters (cosine >= join) -> interests with share >= min_share
    -> per interest, the strategy's candidates ranked by closeness to it -> merged by share

A user with one interest, or whose other interests are too small, keeps the strategy's
ranking as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rec.interest.profile import UserProfile
from rec.ranking.candidates import Candidates
from rec.storage.items_table import ScoredItem


@dataclass(frozen=True)
class Interest:
    centroid: np.ndarray  # (E,) unit: the weighted mean of its items' text vectors
    share: float  # of the kept interests' weight; they sum to 1


def interests_of(
    vectors: np.ndarray, weights: np.ndarray, join: float, min_share: float, most: int,
) -> list[Interest]:
    """Interests among items (`vectors` (N, E) unit rows, `weights` (N,) >= 0), largest first.

    Average-link agglomerative clustering: the two groups whose items are most alike on
    average merge while that mean cosine is at least `join`. Groups below `min_share` of
    the weight are dropped, then at most `most` are kept and their shares renormalised."""
    linked = (vectors @ vectors.T).astype(np.float64)  # (G, G): summed cosines between groups
    sizes = np.ones(len(vectors))
    groups = [[n] for n in range(len(vectors))]
    while len(groups) > 1:
        mean = linked / np.outer(sizes, sizes)  # average link
        np.fill_diagonal(mean, -np.inf)
        a, b = sorted(np.unravel_index(int(np.argmax(mean)), mean.shape))
        if mean[a, b] < join:
            break
        linked[a] += linked[b]  # group a takes b's links (Lance-Williams for the sum)
        linked[:, a] += linked[:, b]
        linked = np.delete(np.delete(linked, b, axis=0), b, axis=1)
        sizes[a] += sizes[b]
        sizes = np.delete(sizes, b)
        groups[a] += groups.pop(b)
    total = float(weights.sum())
    if total <= 0:
        return []
    kept = sorted((g for g in groups if weights[g].sum() / total >= min_share), key=lambda g: -weights[g].sum())
    kept = kept[:most]
    mass = sum(float(weights[g].sum()) for g in kept)
    interests = []
    for group in kept:
        centroid = (weights[group, None] * vectors[group]).sum(axis=0)
        interests.append(Interest(centroid / max(np.linalg.norm(centroid), 1e-12), float(weights[group].sum()) / mass))
    return interests


def merge_by_share(lists: Sequence[Sequence[ScoredItem]], shares: Sequence[float], k: int) -> list[ScoredItem]:
    """k items from the lists, each in its own order: at every position the list furthest
    below its share of the positions so far takes its next item (equal shares alternate);
    an exhausted list gives way to the others."""
    taken = [0] * len(lists)  # how many places each list has had
    cursor = [0] * len(lists)  # its next item not listed yet
    merged: list[ScoredItem] = []
    listed: set[str] = set()
    while len(merged) < k:
        for c in range(len(lists)):  # an item two lists hold is listed once, by the first to reach it
            while cursor[c] < len(lists[c]) and lists[c][cursor[c]].item_id in listed:
                cursor[c] += 1
        open_ = [c for c in range(len(lists)) if cursor[c] < len(lists[c])]
        if not open_:
            break
        position = len(merged) + 1
        c = max(open_, key=lambda c: (shares[c] * position - taken[c], shares[c]))
        merged.append(lists[c][cursor[c]])
        listed.add(merged[-1].item_id)
        taken[c] += 1
    return merged


@dataclass(frozen=True)
class MultiInterestMerge:
    """The re-ranker: each of the user's interests gets its share of the top-k, filled with
    the strategy's best candidates nearest to that interest."""

    text: Candidates  # the item text vectors interests are found in
    most: int  # interests at most; 1 = off
    join: float
    min_share: float
    recent: int
    candidates: int
    strategy_weight: float = 0.0  # an interest's list: z(cosine to it) + this * z(the strategy's score)
    applies_to: frozenset[str] = frozenset({"interest-model", "interest"})

    def pool(self, k: int, profile: UserProfile | None = None) -> int:
        many = profile is not None and len(profile.recent_items) >= 2
        return max(k, self.candidates) if many else k

    def interests(self, profile: UserProfile) -> list[Interest]:
        recent = profile.recent_items[-self.recent:]
        coefficients = profile.recent_coefficients[-self.recent:]
        if len(coefficients) != len(recent):
            coefficients = (1.0,) * len(recent)
        vectors = self.text.vectors(recent)
        known = [n for n, item in enumerate(recent) if item in vectors]
        if len(known) < 2:
            return []
        matrix = np.stack([vectors[recent[n]] for n in known])  # (N, E)
        weights = np.array([max(coefficients[n], 0.0) for n in known])  # (N,)
        return interests_of(matrix, weights, self.join, self.min_share, self.most)

    def rerank(self, items: Sequence[ScoredItem], k: int, profile: UserProfile | None = None) -> list[ScoredItem]:
        found = self.interests(profile) if profile is not None and self.most > 1 else []
        if len(found) < 2:
            return list(items[:k])
        vectors = self.text.vectors([item.item_id for item in items])
        kept = [item for item in items if item.item_id in vectors]
        if len(kept) < 2:
            return list(items[:k])
        matrix = np.stack([vectors[item.item_id] for item in kept])  # (P, E)
        closeness = _standard(matrix @ np.stack([i.centroid for i in found]).T)  # (P, C) per interest
        strategy = _standard(np.array([item.score for item in kept]))[:, None]  # (P, 1)
        scores = closeness + self.strategy_weight * strategy  # (P, C)
        lists = [[kept[n] for n in np.argsort(-scores[:, c], kind="stable")] for c in range(len(found))]
        return merge_by_share(lists, [interest.share for interest in found], k)


def _standard(values: np.ndarray) -> np.ndarray:
    """Each column as z-scores over the candidates."""
    return (values - values.mean(axis=0)) / np.maximum(values.std(axis=0), 1e-12)
