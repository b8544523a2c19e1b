"""Text vectors of new items (added live by POST /items), one small LanceDB table per encoder version.

A cache of the new-items log (rec/storage/new_item_log.py), shared by the processes that
need the vectors but not the encoder: the ingress replica that accepted an
item writes its vector here before it logs the item; other replicas read it
from here when they see the item in the log (embedding it themselves only if
it is missing), and the user shards look up new items here when they
rebuild states from the event log. Rows are keyed by (item_id, text), so a
vector is only ever used for the text it was made from, even if two replicas
raced on one item_id with different content (the log keeps one of them).
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Mapping, Sequence

import lancedb
import numpy as np
import pyarrow as pa

from rec.config import CatalogConfig
from rec.storage.new_item_log import NewItemLog, new_item_texts
from rec.storage.items_table import ItemStore, sql_string_list, vector_matrix

log = logging.getLogger(__name__)


def new_item_table_name(items_table: str, encoder_tag: str) -> str:
    """`items_fresh_text-encoder_1_<crc>`: one table per encoder version (crc keeps names distinct).

    ("fresh" is the on-disk name of tables made before new items got their one name; kept
    so that existing deployments find their vectors.)"""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", encoder_tag)
    return f"{items_table}_fresh_{readable}_{zlib.crc32(encoder_tag.encode()):08x}"


def new_item_table_schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("encoder_version", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
    ])


class NewItemVectorTable:
    """Read and add text vectors of new items made by one encoder version."""

    def __init__(self, db_uri: str, items_table: str, encoder_tag: str) -> None:
        self.db = lancedb.connect(db_uri)
        self.name = new_item_table_name(items_table, encoder_tag)
        self.encoder_tag = encoder_tag
        self._table = None

    def _open(self):
        if self._table is None:
            if self.name not in self.db.list_tables().tables:
                return None
            self._table = self.db.open_table(self.name)
        self._table.checkout_latest()  # other replicas append: read their rows too
        return self._table

    def vectors(self, texts: Mapping[str, str]) -> dict[str, np.ndarray]:
        """Vectors (D,) by item_id for `texts` (item_id -> its text); an id whose text
        has no vector here yet is absent."""
        table = self._open() if texts else None
        if table is None:
            return {}
        rows = (
            table.search().where(f"item_id IN {sql_string_list(sorted(texts))}")
            .select(["item_id", "text", "vector"]).limit(4 * len(texts) + 16).to_arrow()
        )
        if rows.num_rows == 0:
            return {}
        matrix = vector_matrix(rows)  # (R, D)
        return {
            item_id: matrix[row]
            for row, (item_id, text) in enumerate(zip(rows["item_id"].to_pylist(), rows["text"].to_pylist()))
            if texts.get(item_id) == text
        }

    def add(self, item_ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors (N, D) of items; rows already stored for the same (item_id, text) are kept."""
        if not len(item_ids):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        data = pa.table({
            "item_id": pa.array(list(item_ids), pa.string()),
            "text": pa.array(list(texts), pa.string()),
            "encoder_version": pa.array([self.encoder_tag] * len(item_ids), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
        }, schema=new_item_table_schema(dim))
        if self._open() is None:  # two replicas may create it at once: exist_ok
            self._table = self.db.create_table(self.name, schema=new_item_table_schema(dim), exist_ok=True)
        self._table.merge_insert(["item_id", "text"]).when_not_matched_insert_all().execute(data)


class ItemVectorLookup:
    """Item vectors of one encoder version for a user shard: the pinned items table first,
    then new items (those in the log whose vector for their text is stored here).

    So a state rebuilt from the event log folds events on new items too, as the live
    state did when the ingress passed their vectors along.
    """

    def __init__(
        self, store: ItemStore, new_items: NewItemVectorTable, item_log: NewItemLog, catalog: CatalogConfig,
    ) -> None:
        self.store, self.new_items, self.item_log, self.catalog = store, new_items, item_log, catalog

    def __call__(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        found = self.store.vectors(item_ids)
        missing = [i for i in item_ids if i not in found]
        if missing:
            self.item_log.refresh()
            logged = [self.item_log.items[i] for i in missing if i in self.item_log.items]
            if logged:
                texts = new_item_texts(logged, self.catalog)
                found.update(self.new_items.vectors({item.item_id: text for item, text in zip(logged, texts)}))
        return found
