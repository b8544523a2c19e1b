"""Fresh items: candidates that are not in a pinned vector table yet, scored by brute force.

Items added live (POST /items) reach the items table only at the next nightly
embed, and the interest model's scoring table only at the next training. Until
then they are held here, in the same vector space as the table they stand in
for, and every recommendation merges the table's top-k with theirs by the
same score (a dot product). They are few, so an exact matmul is cheaper than
any index.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

from rec.storage.new_item_log import NewItem
from rec.storage.items_table import ScoredItem


class FreshItems:
    """A small, append-only set of items with vectors in one vector space (D dims)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.items: list[NewItem] = []
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, dim), dtype=np.float32)  # (M, D), row i = items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.index

    def add(self, items: Sequence[NewItem], vectors: np.ndarray) -> None:
        """Add items with their vectors (len(items), D); ids already held are ignored."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(items), self.dim)
        keep = [i for i, item in enumerate(items) if item.item_id not in self.index]
        keep = list({items[i].item_id: i for i in keep}.values())  # one row per id
        if not keep:
            return
        for i in keep:
            self.index[items[i].item_id] = len(self.items)
            self.items.append(items[i])
        # A new array, never written in place: a request that holds the old one keeps a consistent view.
        self.matrix = np.vstack([self.matrix, vectors[keep]])

    def vectors(self, item_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors (D,) of the ids held; others are absent."""
        return {i: self.matrix[self.index[i]] for i in item_ids if i in self.index}

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[str] = (), categories: Collection[str] = (),
    ) -> list[ScoredItem]:
        """Top-k by dot product with `query` (D,), minus `exclude`; with `categories`, only
        items in at least one of them (as ItemStore.search)."""
        matrix = self.matrix  # one consistent snapshot: rows are never changed, only appended
        items = self.items[: len(matrix)]
        if not items or k <= 0:
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32)  # (M,)
        wanted = set(categories)
        allowed = np.array([
            item.item_id not in exclude and (not wanted or bool(wanted & set(item.categories)))
            for item in items
        ])
        candidates = np.flatnonzero(allowed)
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        return [ScoredItem(items[i].item_id, items[i].title, float(scores[i]), list(items[i].categories)) for i in top]


def merge_top_k(pinned: Sequence[ScoredItem], fresh: Sequence[ScoredItem], k: int) -> list[ScoredItem]:
    """Top-k of the union of two ranked lists scored alike; an id in both counts once (the pinned row)."""
    seen: set[str] = set()
    merged = []
    for item in sorted([*pinned, *fresh], key=lambda scored: -scored.score):  # stable: pinned first on ties
        if item.item_id not in seen:
            seen.add(item.item_id)
            merged.append(item)
    return merged[:k]
