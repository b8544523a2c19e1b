"""Candidates: the items a ranking answers from, in one vector space.

A pinned source (one version of a LanceDB table, or the same rows in memory
offline) plus the new items added live (POST /items), which reach the items
table only at the next nightly embed and the interest model's scoring table
only at the next training. Until then they are held in memory, in the same
vector space as the table they stand in for, and every search merges the
table's top-k with theirs by the same score (a dot product). They are few, so
an exact matmul is cheaper than any index.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rec.catalog.filters import NO_FILTER, NUMERIC, AttributeFilter, attribute_values
from rec.storage.items_table import ItemStore, ScoredItem, vector_matrix


class ItemSource(Protocol):
    """Exact or indexed top-k search over items with vectors in one space."""

    def vectors(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def categories(self, item_ids: Sequence[str]) -> dict[str, list[str]]: ...

    def titles(self, item_ids: Sequence[str]) -> dict[str, str]: ...

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[str] = (), categories: Collection[str] = (),
        filters: AttributeFilter = NO_FILTER,
    ) -> list[ScoredItem]: ...


class CatalogItem(Protocol):
    """What InMemoryItems keeps of an item (NewItem and PinnedItem have these fields, and
    `year` and `attributes`, the declared attributes as (name, value) pairs, which it reads
    when an item has them)."""

    item_id: str
    title: str
    categories: Sequence[str]


class InMemoryItems:
    """An append-only set of items with vectors in one vector space (D dims), searched exactly.

    `attributes` (name -> int | float | string) are the declared attributes it keeps as columns
    for filters; year is always one."""

    def __init__(self, dim: int, attributes: Mapping[str, str] | None = None) -> None:
        self.dim = dim
        self.attributes = {"year": "int", **(attributes or {})}
        self.items: list[CatalogItem] = []
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, dim), dtype=np.float32)  # (M, D), row i = items[i]
        self.popularity = np.zeros(0, dtype=np.float64)  # (M,)
        # (M,) each: numeric as float (NaN = none), string as str ("" = none)
        self.columns = {name: np.zeros(0, dtype=np.float64 if kind in NUMERIC else str)
                        for name, kind in self.attributes.items()}
        self.rows_in: dict[str, list[int]] = {}  # category -> its rows, so a filter costs its rows, not M

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.index

    def add(self, items: Sequence[CatalogItem], vectors: np.ndarray, popularity: Sequence[float] | None = None) -> None:
        """Add items with their vectors (len(items), D); ids already held are ignored."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(items), self.dim)
        counts = np.zeros(len(items)) if popularity is None else np.asarray(popularity, dtype=np.float64)
        keep = [i for i, item in enumerate(items) if item.item_id not in self.index]
        keep = list({items[i].item_id: i for i in keep}.values())  # one row per id
        if not keep:
            return
        # New arrays, never written in place, the matrix last: a request that holds the old
        # matrix reads the first len(matrix) rows of everything else, all there already.
        self.popularity = np.concatenate([self.popularity, counts[keep]])
        values = [attribute_values(items[i]) for i in keep]
        self.columns = {name: np.concatenate([column, _column([v.get(name) for v in values], self.attributes[name])])
                        for name, column in self.columns.items()}
        for i in keep:
            row = len(self.items)
            self.index[items[i].item_id] = row
            self.items.append(items[i])
            for category in set(items[i].categories):
                self.rows_in.setdefault(category, []).append(row)
        self.matrix = np.vstack([self.matrix, vectors[keep]])

    def vectors(self, item_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors (D,) of the ids held; others are absent."""
        return {i: self.matrix[self.index[i]] for i in item_ids if i in self.index}

    def categories(self, item_ids: Iterable[str]) -> dict[str, list[str]]:
        """Categories of the ids held; others are absent."""
        return {i: list(self.items[self.index[i]].categories) for i in item_ids if i in self.index}

    def titles(self, item_ids: Iterable[str]) -> dict[str, str]:
        """Titles of the ids held; others are absent."""
        return {i: self.items[self.index[i]].title for i in item_ids if i in self.index}

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[str] = (), categories: Collection[str] = (),
        filters: AttributeFilter = NO_FILTER,
    ) -> list[ScoredItem]:
        """Top-k by dot product with `query` (D,), minus `exclude`; with `categories`, only
        items in at least one of them; only items that pass `filters` (as ItemStore.search)."""
        matrix, columns = self.matrix, self.columns  # one consistent snapshot: the first len(matrix) rows
        m = len(matrix)
        items, popularity = self.items[:m], self.popularity[:m]
        if not items or k <= 0:
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32)  # (M,)
        allowed = np.ones(len(items), dtype=bool)
        blocked = [self.index[i] for i in exclude if i in self.index and self.index[i] < len(items)]
        allowed[blocked] = False
        if categories:
            in_any = np.zeros(len(items), dtype=bool)
            for category in set(categories):
                held = np.asarray(self.rows_in.get(category, ()), dtype=np.int64)
                in_any[held[held < m]] = True
            allowed &= in_any
        if filters:
            unknown = {c.attribute for c in filters.conditions} - columns.keys()
            if unknown:
                raise ValueError(f"no attribute {sorted(unknown)} here to filter on (held: {sorted(columns)})")
            allowed &= filters.mask(columns, m)
        candidates = np.flatnonzero(allowed)
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        return [
            ScoredItem(items[i].item_id, items[i].title, float(scores[i]), list(items[i].categories),
                       float(popularity[i]), getattr(items[i], "year", None),
                       tuple(getattr(items[i], "attributes", ())))
            for i in top
        ]


@dataclass(frozen=True)
class PinnedItem:
    """A row of a pinned table (or the offline catalogue) as InMemoryItems holds it."""

    item_id: str
    title: str
    categories: tuple[str, ...] = ()
    year: int | None = None
    attributes: tuple[tuple[str, Any], ...] = ()


def in_memory(store: ItemStore) -> InMemoryItems:
    """The pinned table version's rows in memory: searched exactly by the same dot product,
    with the same filters, and no LanceDB call per search (for tables small enough)."""
    rows = store.rows()
    items = InMemoryItems(store.dim, store.attributes)
    if rows.num_rows:
        items.add([PinnedItem(r["item_id"], r["title"], tuple(r["categories"] or ()), r["year"],
                              tuple((name, r[name]) for name in store.attributes))
                   for r in rows.drop_columns(["vector"]).to_pylist()],
                  vector_matrix(rows), rows["popularity"].to_numpy(zero_copy_only=False))
    return items


def _column(values: list[Any], kind: str) -> np.ndarray:
    """Attribute values as an InMemoryItems column."""
    if kind in NUMERIC:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array(["" if v is None else str(v) for v in values], dtype=str)


def pinned_source(store: ItemStore, in_memory_max_items: int) -> ItemStore | InMemoryItems:
    """What a Candidates searches for this pinned table: its rows in memory up to
    `in_memory_max_items` rows, else LanceDB (with its ANN index when the embed job built one)."""
    return in_memory(store) if store.count() <= in_memory_max_items else store


def merge_top_k(pinned: Sequence[ScoredItem], new: Sequence[ScoredItem], k: int) -> list[ScoredItem]:
    """Top-k of the union of two ranked lists scored alike; an id in both counts once (the pinned row)."""
    seen: set[str] = set()
    merged = []
    for item in sorted([*pinned, *new], key=lambda scored: -scored.score):  # stable: pinned first on ties
        if item.item_id not in seen:
            seen.add(item.item_id)
            merged.append(item)
    return merged[:k]


class Candidates:
    """One vector space's items: the pinned source plus the new items added live."""

    def __init__(self, pinned: ItemSource, new_items: InMemoryItems) -> None:
        self.pinned, self.new_items = pinned, new_items

    def vectors(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors by id, from the pinned source first; ids in neither are absent."""
        found = self.pinned.vectors(item_ids)
        found.update(self.new_items.vectors(set(item_ids) - found.keys()))
        return found

    def categories(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """Categories by id, from the pinned source first; ids in neither are absent."""
        found = self.pinned.categories(item_ids)
        found.update(self.new_items.categories(set(item_ids) - found.keys()))
        return found

    def titles(self, item_ids: Sequence[str]) -> dict[str, str]:
        """Titles by id, from the pinned source first; ids in neither are absent."""
        found = self.pinned.titles(item_ids)
        found.update(self.new_items.titles(set(item_ids) - found.keys()))
        return found

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[str] = (), categories: Collection[str] = (),
        filters: AttributeFilter = NO_FILTER,
    ) -> list[ScoredItem]:
        """Top-k by dot product over both, minus `exclude`, within `categories` (any of them)
        and `filters`."""
        return merge_top_k(
            self.pinned.search(query, k, exclude=exclude, categories=categories, filters=filters),
            self.new_items.search(query, k, exclude=exclude, categories=categories, filters=filters), k,
        )
