"""The vectors a rerun of the embed job keeps from the items table's previous version.

An item keeps its vector when the encoder would give the same one again: the
previous version was embedded with the same settings (max length and compute
dtype, kept in the table's schema metadata), and the item's row there has the
same encoder version and the same text. Every other item is embedded afresh.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import lancedb
import numpy as np

from rec.storage.items_table import lance_dataset_uri, sql_string_list, vector_matrix

SETTINGS_KEY = b"rec.embed_settings"


def embed_settings(max_length: int, dtype: str) -> dict[bytes, bytes]:
    """The schema metadata that says how a version's vectors were made (dtype: the one computed in)."""
    return {SETTINGS_KEY: json.dumps({"max_length": max_length, "dtype": dtype}, sort_keys=True).encode()}


@dataclass(frozen=True)
class PreviousVersion:
    """The table version whose vectors the job may keep, and the encoder they must come from."""

    dataset_uri: str
    version: int
    encoder_tag: str


def reusable_version(db_uri: str, table: str, encoder_tag: str, settings: dict[bytes, bytes]) -> PreviousVersion | None:
    """The table's latest version, when it holds rows embedded with `settings`; else None."""
    db = lancedb.connect(db_uri)
    if table not in db.list_tables().tables:
        return None
    latest = db.open_table(table)
    if (latest.schema.metadata or {}).get(SETTINGS_KEY) != settings[SETTINGS_KEY] or latest.count_rows() == 0:
        return None
    return PreviousVersion(lance_dataset_uri(db_uri, table), int(latest.version), encoder_tag)


class UnchangedVectors:
    """Looks up, in one pinned previous version, the vectors that items with unchanged text can keep."""

    def __init__(self, previous: PreviousVersion) -> None:
        import lance

        self.dataset = lance.dataset(previous.dataset_uri, version=previous.version)
        self.encoder_tag = previous.encoder_tag

    def find(self, item_ids: Sequence[str], texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The kept vector of each id whose previous row has this text and encoder; others are absent."""
        if not item_ids:
            return {}
        rows = self.dataset.to_table(columns=["item_id", "text", "encoder_version", "vector"],
                                     filter=f"item_id IN {sql_string_list(sorted(set(item_ids)))}")
        wanted = dict(zip(item_ids, texts))
        matrix = vector_matrix(rows)
        return {
            item_id: matrix[n]
            for n, (item_id, text, encoder) in enumerate(zip(rows["item_id"].to_pylist(), rows["text"].to_pylist(),
                                                             rows["encoder_version"].to_pylist()))
            if encoder == self.encoder_tag and wanted.get(item_id) == text
        }
