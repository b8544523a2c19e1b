"""Fetch MovieLens and write it as a catalogue and an event file.

    python -m jobs.prepare_movielens --config configs/base.yaml [--source DIR]

Without --source, MovieLens-100k is taken from the recbole==1.2.1 wheel on
PyPI (only that wheel is downloaded). With --source, any GroupLens layout
(u.data/u.item, ratings.dat/movies.dat, ratings.csv/movies.csv) is read.
Writes <data_dir>/movielens/items.parquet and events.parquet.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pyarrow.parquet as pq

from rec.config import load_config
from rec.catalog.movielens import fetch_movielens_100k, load_movielens

log = logging.getLogger(__name__)


def write_atomically(table, path: Path, row_group_size: int) -> None:
    """Write parquet next to `path` and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial, row_group_size=row_group_size)
    partial.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="YAML config (paths.data_dir is used)")
    parser.add_argument("--source", default=None, help="folder with MovieLens files; default: fetch ml-100k")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    started = time.perf_counter()
    data_dir = Path(config.paths.data_dir)
    source = Path(args.source) if args.source else fetch_movielens_100k(data_dir / "ml-100k")
    items, events = load_movielens(source)
    out = data_dir / "movielens"
    # Small row groups let Ray Data split the catalogue across encoder actors.
    write_atomically(items, out / "items.parquet", row_group_size=256)
    write_atomically(events, out / "events.parquet", row_group_size=100_000)
    print(json.dumps({
        "job": "prepare_movielens", "source": str(source), "items": items.num_rows,
        "events": events.num_rows, "users": len(set(events["user_id"].to_pylist())),
        "out": str(out), "duration_s": round(time.perf_counter() - started, 2),
    }))


if __name__ == "__main__":
    main()
