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


def embed_items(
    raw: pa.Table,
    encoder: TextEncoder,
    config: CatalogConfig,
    popularity: Mapping[str, int],
    encoder_tag: str,
) -> pa.Table:
    """Normalise, render text, embed; returns rows in items_table_schema."""
    catalog = normalize_catalog(raw, config.filterable)
    texts = catalog_texts(catalog, config)
    vectors = encoder.encode(texts)  # (N, D) float32, unit rows
    counts = [int(popularity.get(i, 0)) for i in catalog["item_id"].to_pylist()]
    columns = {name: catalog[name] for name in catalog.column_names}
    columns.update(
        text=pa.array(texts, pa.string()),
        popularity=pa.array(counts, pa.int64()),
        encoder_version=pa.array([encoder_tag] * catalog.num_rows, pa.string()),
        vector=pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), encoder.dim),
    )
    return pa.table(columns, schema=items_table_schema(encoder.dim, config.filterable))


def popularity_counts(events: pa.Table) -> dict[str, int]:
    """Interactions per item_id in an event table."""
    counts = events.group_by("item_id").aggregate([("item_id", "count")])
    return dict(zip(pc.cast(counts["item_id"], pa.string()).to_pylist(), counts["item_id_count"].to_pylist()))


def duplicate_ids(item_ids: np.ndarray | list[str]) -> list[str]:
    """Ids that occur more than once."""
    values, counts = np.unique(np.asarray(item_ids, dtype=object), return_counts=True)
    return [str(v) for v in values[counts > 1]]
