"""LanceDB item tables (the items table, the interest model's scoring table):
the queries serve needs, and the nightly jobs' writes.

A reader is pinned to one table version, so it never mixes item vectors of
two encoders while a nightly job writes the next version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rec.errors import NotReadyError
from rec.catalog.filters import NO_FILTER, AttributeFilter, attribute_values
from rec.catalog.schemas import is_valid_category, is_valid_id, table_attributes
from rec.storage.vector_index import IndexPlan, build_index, has_vector_index, index_plan

log = logging.getLogger(__name__)

_ITEM_COLUMNS = ["item_id", "title", "categories", "year", "popularity"]
_CATALOG_FIELDS = ["item_id", "title", "year", "categories", "description"]
# Longest exclusion list sent to LanceDB as a prefilter; older seen items are
# removed after the query from an over-fetched result instead.
MAX_PREFILTER_IDS = 2000


@dataclass(frozen=True)
class ScoredItem:
    """One recommended item."""

    item_id: str
    title: str
    score: float
    categories: list[str]
    popularity: float = 0.0  # events counted by the nightly embed; 0 for items added since
    year: int | None = None
    attributes: tuple[tuple[str, Any], ...] = ()  # the declared attributes (catalog.filterable), by name

    def attribute_values(self) -> dict[str, Any]:
        """What an AttributeFilter reads: year and the declared attributes."""
        return attribute_values(self)


def sql_string_list(values: Collection[str]) -> str:
    """`('a', 'b')` for a SQL IN list; every value must be a safe id."""
    bad = [v for v in values if not is_valid_id(v)]
    if bad:
        raise ValueError(f"not a safe id for a filter: {bad[:3]!r}")
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def sql_category_filter(categories: Collection[str]) -> str:
    """`array_has_any(categories, ['A', 'B'])`; every value must be a valid category name."""
    bad = [c for c in categories if not is_valid_category(c)]
    if bad:
        raise ValueError(f"not a valid category for a filter: {bad[:3]!r}")
    quoted = ", ".join("'" + c.replace("'", "''") + "'" for c in sorted(categories))
    return f"array_has_any(categories, [{quoted}])"


class ItemStore:
    """Read access to one pinned version of the items table."""

    def __init__(
        self, db_uri: str, table: str, version: int | None = None, vector_cache_size: int = 50_000
    ) -> None:
        db = lancedb.connect(db_uri)
        if table not in db.list_tables().tables:
            raise NotReadyError(
                f"LanceDB table {table!r} not found in {db_uri}: run the embed job first "
                "(python -m jobs.embed_catalog --config configs/embed_catalog.yaml)"
            )
        self.table = db.open_table(table)
        if version is not None:
            self.table.checkout(version)
        self.version = int(self.table.version)
        self.dim = self.table.schema.field("vector").type.list_size
        self.attributes = table_attributes(self.table.schema)  # declared attribute columns: name -> kind
        # How its ANN index is queried, when the job built one (rec/storage/vector_index.py)
        self.plan = index_plan(self.count(), min_rows=0) if has_vector_index(self.table) else None
        # A pinned version never changes, so its vectors can be cached as they are.
        self._vector_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vector_cache_size = vector_cache_size
        self._label_cache: OrderedDict[str, tuple[str, list[str]]] = OrderedDict()  # (title, categories)

    def count(self) -> int:
        return self.table.count_rows()

    def encoder_version(self) -> str:
        """The encoder version the table's vectors were made with."""
        rows = self.table.search().select(["encoder_version"]).limit(1).to_arrow()
        if rows.num_rows == 0:
            raise NotReadyError("the items table is empty")
        return rows["encoder_version"][0].as_py()

    def vectors(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Item vectors by id; ids not in the table are absent from the result."""
        found = {i: self._vector_cache[i] for i in set(item_ids) if i in self._vector_cache}
        for item_id in found:
            self._vector_cache.move_to_end(item_id)
        missing = sorted(set(item_ids) - found.keys())
        if missing:
            fetched = self._fetch_vectors(missing)
            found.update(fetched)
            self._vector_cache.update(fetched)
            while len(self._vector_cache) > self._vector_cache_size:
                self._vector_cache.popitem(last=False)
        return found

    def _fetch_vectors(self, wanted: list[str]) -> dict[str, np.ndarray]:
        rows = (
            self.table.search()
            .where(f"item_id IN {sql_string_list(wanted)}")
            .select(["item_id", "vector"])
            .limit(len(wanted))
            .to_arrow()
        )
        matrix = vector_matrix(rows)
        return dict(zip(rows["item_id"].to_pylist(), matrix))

    def categories(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """Categories by id (cached: a pinned version never changes); ids not in the table are absent."""
        return {i: labels[1] for i, labels in self._labels(item_ids).items()}

    def titles(self, item_ids: Sequence[str]) -> dict[str, str]:
        """Titles by id (cached as categories are); ids not in the table are absent."""
        return {i: labels[0] for i, labels in self._labels(item_ids).items()}

    def _labels(self, item_ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        missing = sorted(set(item_ids) - self._label_cache.keys())
        if missing:
            rows = (self.table.search().where(f"item_id IN {sql_string_list(missing)}")
                    .select(["item_id", "title", "categories"]).limit(len(missing)).to_arrow().to_pylist())
            self._label_cache.update((r["item_id"], (r["title"], r["categories"] or [])) for r in rows)
            while len(self._label_cache) > self._vector_cache_size:
                self._label_cache.popitem(last=False)
        return {i: self._label_cache[i] for i in item_ids if i in self._label_cache}

    def catalog_rows(self, item_ids: Sequence[str]) -> dict[str, dict]:
        """Catalogue fields (item_id, title, year, categories, description, and the declared
        `attributes` as a dict) of the ids in the table."""
        if not item_ids:
            return {}
        rows = (
            self.table.search()
            .where(f"item_id IN {sql_string_list(sorted(set(item_ids)))}")
            .select([*_CATALOG_FIELDS, *self.attributes])
            .limit(len(set(item_ids)))
            .to_arrow()
        )
        return {row["item_id"]: {**{f: row[f] for f in _CATALOG_FIELDS},
                                 "attributes": {n: row[n] for n in self.attributes}}
                for row in rows.to_pylist()}

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[str] = (), categories: Collection[str] = (),
        filters: AttributeFilter = NO_FILTER,
    ) -> list[ScoredItem]:
        """Top-k items by dot product with `query`, minus `exclude`; with `categories`,
        only items in at least one of them; only items that pass `filters` (all applied
        inside the LanceDB query)."""
        exclude = set(exclude)
        prefiltered = sorted(exclude)[:MAX_PREFILTER_IDS]
        builder = self.table.search(np.asarray(query, dtype=np.float32)).distance_type("dot")
        if self.plan is not None:
            builder = builder.nprobes(self.plan.nprobes).refine_factor(self.plan.refine_factor)
        conditions = [f"item_id NOT IN {sql_string_list(prefiltered)}"] if prefiltered else []
        if categories:
            conditions.append(sql_category_filter(categories))
        if filters:
            conditions.append(filters.sql())
        if conditions:
            builder = builder.where(" AND ".join(conditions), prefilter=True)
        fetch = k + (len(exclude) - len(prefiltered))
        rows = builder.select([*_ITEM_COLUMNS, *self.attributes, "_distance"]).limit(fetch).to_arrow()
        return [item for item in self._scored(rows, lambda r: 1.0 - float(r["_distance"]))
                if item.item_id not in exclude][:k]

    def rows(self) -> pa.Table:
        """Every row of the pinned version: item_id, title, categories, year, popularity, the
        declared attributes, vector."""
        return self.table.search().select([*_ITEM_COLUMNS, *self.attributes, "vector"]).limit(self.count()).to_arrow()

    def popular(self, n: int) -> list[ScoredItem]:
        """The n most popular items (score = popularity count)."""
        rows = self.table.search().select([*_ITEM_COLUMNS, *self.attributes]).limit(self.count()).to_arrow()
        top = pc.sort_indices(rows["popularity"], sort_keys=[("popularity", "descending")])
        return self._scored(rows.take(top[:n]), lambda r: float(r["popularity"]))

    def _scored(self, rows: pa.Table, score: Callable[[dict], float]) -> list[ScoredItem]:
        return [
            ScoredItem(r["item_id"], r["title"], score(r), r["categories"] or [], float(r["popularity"]), r["year"],
                       tuple((name, r[name]) for name in self.attributes))
            for r in rows.to_pylist()
        ]


def write_version(db_uri: str, table: str, rows: pa.Table | Iterator[pa.RecordBatch],
                  schema: pa.Schema | None = None) -> lancedb.table.Table:
    """Write `rows` (a table, or batches as they stream in) as one new version of `table`.

    LanceDB commits the version once every row is written, so an error before that
    leaves the table, and every reader pinned to a version of it, as it was.
    """
    return lancedb.connect(db_uri).create_table(table, data=rows, schema=schema, mode="overwrite")


def lance_dataset_uri(db_uri: str, table: str) -> str:
    """Where LanceDB keeps `table` of the database at `db_uri` (a local folder made absolute,
    since workers need not share the driver's working directory; an object-store URI as is)."""
    base = db_uri if "://" in db_uri else str(Path(db_uri).resolve())
    return f"{base.rstrip('/')}/{table}.lance"


def write_fragments(rows: pa.Table, dataset_uri: str, schema: pa.Schema) -> list[str]:
    """Write `rows` as data files of the Lance dataset at `dataset_uri` (ensure_table first),
    outside any version yet; returns the fragments (as JSON) for `commit_fragments` to make part of one."""
    from lance.fragment import write_fragments as write

    # mode "overwrite": the files take the field ids of `schema` itself, as the Overwrite commit
    # does, not those of the table's current schema (which another column set would shift).
    written = write(rows.select(schema.names).cast(schema), dataset_uri, schema=schema, mode="overwrite",
                    data_storage_version="stable")
    return [json.dumps(f.to_json()) for f in written]


def ensure_table(db_uri: str, table: str, schema: pa.Schema) -> None:
    """Make `table` (empty: a version no pointer names) unless it exists: fragments are
    written into an existing table's folder, and LanceDB must have made the table."""
    db = lancedb.connect(db_uri)
    if table not in db.list_tables().tables:
        db.create_table(table, schema=schema)


def commit_fragments(db_uri: str, table: str, fragments: Sequence[str], schema: pa.Schema) -> lancedb.table.Table:
    """Make the written `fragments` the whole of one new version of `table` (made by
    ensure_table), in one commit: readers see the old version or the new one, never a part."""
    import lance
    from lance.fragment import FragmentMetadata

    db = lancedb.connect(db_uri)
    operation = lance.LanceOperation.Overwrite(schema, [FragmentMetadata.from_json(f) for f in fragments])
    lance.LanceDataset.commit(lance_dataset_uri(db_uri, table), operation, read_version=db.open_table(table).version)
    return db.open_table(table)


def index_if_large(table: lancedb.table.Table, min_rows: int) -> IndexPlan | None:
    """The ANN index from `min_rows` rows (rec/storage/vector_index.py); smaller tables are
    scanned exactly, which is faster than any index at that size. Returns the plan it built."""
    plan = index_plan(table.count_rows(), min_rows)
    if plan is not None:
        build_index(table, plan)
    return plan


def check_attributes(store: ItemStore, declared: Mapping[str, str]) -> None:
    """Refuse to serve a table without a column that catalog.filterable declares."""
    missing = {n: k for n, k in declared.items() if store.attributes.get(n) != k}
    if missing:
        raise NotReadyError(
            f"table {store.table.name!r} version {store.version} has no {sorted(missing)} columns of the kinds "
            f"catalog.filterable declares ({missing}); rerun the nightly jobs (embed, then train) to add them"
        )


def check_vector_space(store: ItemStore, expected: str) -> None:
    """Refuse to serve a table whose vectors another model made (invariant 1)."""
    found = store.encoder_version()
    if found != expected:
        raise NotReadyError(
            f"table version {store.version} holds vectors of {found}, not {expected}: "
            "rerun the nightly job that writes it"
        )


def vector_matrix(rows: pa.Table) -> np.ndarray:
    """The `vector` column of `rows` as one (N, D) array."""
    column = rows["vector"].combine_chunks()
    dim = column.type.list_size
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)  # (N, D)
