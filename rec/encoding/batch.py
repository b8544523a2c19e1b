"""Turning a batch of catalogue rows into items-table rows (no Ray here)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rec.catalog.files import normalize_catalog
from rec.config import CatalogConfig
from rec.encoding.encoder import TextEncoder
from rec.catalog.schemas import items_table_schema
from rec.catalog.text import catalog_texts  # one text function for the job and POST /items
from rec.storage.unchanged_vectors import UnchangedVectors

# Marks the rows whose vector was kept from the previous version; the table's writer leaves it out.
VECTOR_REUSED = "vector_reused"


def embed_items(
    raw: pa.Table,
    encoder: TextEncoder,
    config: CatalogConfig,
    popularity: Mapping[str, int],
    encoder_tag: str,
    unchanged: UnchangedVectors | None = None,
) -> pa.Table:
    """Normalise, render text, embed; returns rows in items_table_schema, plus VECTOR_REUSED.
    With `unchanged`, an item whose text and encoder are as before keeps its vector."""
    catalog = normalize_catalog(raw, config.filterable)
    texts = catalog_texts(catalog, config)
    item_ids = catalog["item_id"].to_pylist()
    kept = unchanged.find(item_ids, texts) if unchanged is not None else {}
    fresh = [n for n, item_id in enumerate(item_ids) if item_id not in kept]
    vectors = np.empty((len(item_ids), encoder.dim), dtype=np.float32)  # (N, D) unit rows
    vectors[fresh] = encoder.encode([texts[n] for n in fresh])
    for n, item_id in enumerate(item_ids):
        if item_id in kept:
            vectors[n] = kept[item_id]
    counts = [int(popularity.get(i, 0)) for i in item_ids]
    columns = {name: catalog[name] for name in catalog.column_names}
    columns.update(
        text=pa.array(texts, pa.string()),
        popularity=pa.array(counts, pa.int64()),
        encoder_version=pa.array([encoder_tag] * catalog.num_rows, pa.string()),
        vector=pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), encoder.dim),
    )
    rows = pa.table(columns, schema=items_table_schema(encoder.dim, config.filterable))
    return rows.append_column(VECTOR_REUSED, pa.array([i in kept for i in item_ids], pa.bool_()))


def popularity_counts(events: pa.Table) -> dict[str, int]:
    """Interactions per item_id in an event table."""
    counts = events.group_by("item_id").aggregate([("item_id", "count")])
    return dict(zip(pc.cast(counts["item_id"], pa.string()).to_pylist(), counts["item_id_count"].to_pylist()))


def duplicate_ids(item_ids: np.ndarray | list[str]) -> list[str]:
    """Ids that occur more than once."""
    values, counts = np.unique(np.asarray(item_ids, dtype=object), return_counts=True)
    return [str(v) for v in values[counts > 1]]
