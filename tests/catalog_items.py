"""The fixture catalogue's items of a genre, as the integration tests pick them."""

from __future__ import annotations

import lancedb

from rec.config import RecConfig


def items_of(config: RecConfig, genre: str, without: str = "") -> list[dict]:
    """The catalogue's items of `genre`, in item_id order: the embed job's actors write
    rows in whatever order they finish, so table order would pick other items each run."""
    rows = lancedb.connect(config.paths.lancedb_uri).open_table("items").to_arrow()
    return sorted(
        (r for r in rows.select(["item_id", "title", "categories"]).to_pylist()
         if genre in (r["categories"] or []) and without not in (r["categories"] or [])),
        key=lambda r: int(r["item_id"]),
    )
