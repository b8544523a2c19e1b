"""The fixture catalogue: its items of a genre, as the integration tests pick them, and the
attributes it declares filterable."""

from __future__ import annotations

from pathlib import Path

import lancedb
import pyarrow as pa
import pyarrow.parquet as pq

from rec.catalog.movielens import load_movielens

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


FILTERABLE = {"runtime": "int", "language": "string"}  # catalog.filterable of the integration apps


def fixture_runtime(item_id: int) -> int | None:
    """A made-up runtime in minutes (75..164; none for every 11th id)."""
    return None if item_id % 11 == 0 else 75 + (item_id * 37) % 90


def fixture_language(item_id: int) -> str | None:
    """A made-up language (none for every 10th id)."""
    return None if item_id % 10 == 0 else ["en", "fr", "de"][item_id % 3]


def write_fixture_catalog(home: Path, ml100k_dir: Path, n_items: int) -> None:
    """The first `n_items` MovieLens-100k items and every event under `home`/data/movielens,
    with the made-up FILTERABLE columns."""
    items, events = load_movielens(ml100k_dir)
    (home / "data" / "movielens").mkdir(parents=True)
    items = items.slice(0, n_items)
    ids = [int(i) for i in items["item_id"].to_pylist()]
    items = items.append_column("runtime", pa.array([fixture_runtime(i) for i in ids], pa.int64()))
    items = items.append_column("language", pa.array([fixture_language(i) for i in ids], pa.string()))
    pq.write_table(items, home / "data/movielens/items.parquet", row_group_size=64)
    pq.write_table(events, home / "data/movielens/events.parquet")
