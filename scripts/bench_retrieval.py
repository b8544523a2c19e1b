"""Retrieval at 100k and 1M items: exact (flat) against the ANN index, through ItemStore.search.

    PYTHONPATH=. .venv/bin/python scripts/bench_retrieval.py [--sizes 100000 1000000] [--queries 100]

For each size it writes two synthetic LanceDB tables, the items table (384-d) and an
interest-model scoring table (65-d), with vectors clustered as text embeddings are:
19 genre directions, topics around each genre, items around each topic (an item's
cosine to its topic is about 0.7), and the item's categories are its topic's genre
(and for 30% a second one). A query is the mean of 5 liked items, as a user's
interest is, from 1 to 3 topics. Each query runs plain, and with filters: 200 seen items
of its topics excluded (a prefilter) and its first topic's genre as the category filter
(about 1 item in 15 passes it).

Per table and size it prints: flat p50/p99 (LanceDB without the index, the same
query), index p50/p99, index build time, and recall@10 of the index against the
exact top-10 (numpy over all rows, filters applied), without and with the filters.
The index and its query settings are rec/storage/vector_index.py's plan for the
size. Ends with one line:
`retrieval 1M: recall@10 X filtered Y, index p50 A ms, flat p50 B ms, speed-up Z x`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from rec.catalog.schemas import items_table_schema
from rec.storage.items_table import ItemStore, write_version
from rec.storage.vector_index import build_index, index_plan

GENRES = [f"Genre{g:02d}" for g in range(19)]
TABLES = {"items": 384, "scoring": 65}
SEEN = 200


def clustered(rows: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit vectors (rows, dim), topic of each row, genre of each topic)."""
    topics = max(50, int(2 * np.sqrt(rows)))
    genre_dirs = _unit(rng.normal(size=(len(GENRES), dim)))
    topic_genre = rng.integers(len(GENRES), size=topics)
    centres = _unit(genre_dirs[topic_genre] + 0.8 * _unit(rng.normal(size=(topics, dim))))
    topic = rng.integers(topics, size=rows)
    vectors = np.empty((rows, dim), dtype=np.float32)
    for start in range(0, rows, 100_000):  # in chunks: the noise of 1M x 384 at once is 3 GB of float64
        end = min(rows, start + 100_000)
        noise = rng.normal(size=(end - start, dim)).astype(np.float32) / np.sqrt(dim)
        vectors[start:end] = _unit(centres[topic[start:end]] + noise)
    return vectors, topic, topic_genre


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def table_batches(vectors: np.ndarray, categories: list[list[str]], dim: int, encoder: str = "bench"):
    ids = np.arange(len(vectors))
    for start in range(0, len(vectors), 50_000):
        end = min(len(vectors), start + 50_000)
        n = end - start
        yield pa.RecordBatch.from_pydict({
            "item_id": [f"i{i}" for i in ids[start:end]], "title": [f"Item {i}" for i in ids[start:end]],
            "description": pa.nulls(n, pa.string()), "categories": categories[start:end],
            "year": pa.array(1950 + ids[start:end] % 75, pa.int32()), "text": [""] * n,
            "popularity": pa.array(ids[start:end] % 1000, pa.int64()), "encoder_version": [encoder] * n,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors[start:end].ravel(), pa.float32()), dim),
        }, schema=items_table_schema(dim))


def exact_top(vectors: np.ndarray, query: np.ndarray, allowed: np.ndarray | None, k: int = 10) -> list[str]:
    scores = vectors @ query
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return [f"i{i}" for i in top[np.argsort(-scores[top])]]


def timed(search, runs) -> tuple[list[float], list[list[str]]]:
    times, found = [], []
    for args in runs:
        started = time.perf_counter()
        items = search(*args)
        times.append(1000 * (time.perf_counter() - started))
        found.append([i.item_id for i in items])
    return times, found


def p(times: list[float], q: float) -> float:
    return float(np.percentile(times, q))


def bench_table(folder: Path, name: str, rows: int, dim: int, queries: int, flat_queries: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    vectors, topic, topic_genre = clustered(rows, dim, rng)
    second = rng.random(rows) < 0.3
    other = rng.integers(len(GENRES), size=rows)
    categories = [[GENRES[topic_genre[t]]] + ([GENRES[o]] if s and o != topic_genre[t] else [])
                  for t, s, o in zip(topic, second, other)]
    written = time.perf_counter()
    table = write_version(str(folder), name, table_batches(vectors, categories, dim), items_table_schema(dim))
    write_s = time.perf_counter() - written
    by_topic: dict[int, np.ndarray] = {}
    plain, filtered, truth_plain, truth_filtered = [], [], [], []
    genre_of_row = np.array([GENRES.index(c[0]) for c in categories])
    has_second = np.array([len(c) > 1 for c in categories])
    second_genre = np.array([GENRES.index(c[1]) if len(c) > 1 else -1 for c in categories])
    for _ in range(queries):
        # a user's interest: 5 liked items from 1 to 3 topics; their seen items are of those topics
        liked_topics = topic[rng.choice(rows, size=int(rng.integers(1, 4)))]
        members = np.concatenate([by_topic.setdefault(int(t), np.flatnonzero(topic == t)) for t in liked_topics])
        query = _unit(vectors[rng.choice(members, size=5)].mean(axis=0))
        seen = rng.choice(members, size=min(SEEN, len(members)), replace=False)
        genre = int(topic_genre[liked_topics[0]])
        allowed = (genre_of_row == genre) | (has_second & (second_genre == genre))
        allowed[seen] = False
        plain.append((query, 10))
        filtered.append((query, 10, {f"i{i}" for i in seen}, {GENRES[genre]}))
        truth_plain.append(exact_top(vectors, query, None))
        truth_filtered.append(exact_top(vectors, query, allowed))
    store = ItemStore(str(folder), name)
    flat_p, _ = timed(store.search, plain[:flat_queries])
    flat_f, _ = timed(lambda q, k, e, c: store.search(q, k, exclude=e, categories=c), filtered[:flat_queries])
    plan = index_plan(rows, min_rows=0)
    built = time.perf_counter()
    build_index(table, plan)
    build_s = time.perf_counter() - built
    store = ItemStore(str(folder), name)
    assert store.plan == plan, (store.plan, plan)
    timed(store.search, plain[:5])  # warm the index caches
    index_p, found_p = timed(store.search, plain)
    index_f, found_f = timed(lambda q, k, e, c: store.search(q, k, exclude=e, categories=c), filtered)
    return {
        "table": name, "rows": rows, "dim": dim, "write_s": write_s, "build_s": build_s, "plan": plan.why,
        "flat_p50": p(flat_p, 50), "flat_p99": p(flat_p, 99), "flat_filtered_p50": p(flat_f, 50),
        "index_p50": p(index_p, 50), "index_p99": p(index_p, 99),
        "index_filtered_p50": p(index_f, 50), "index_filtered_p99": p(index_f, 99),
        "recall": statistics.mean(len(set(f) & set(t)) / 10 for f, t in zip(found_p, truth_plain)),
        "recall_filtered": statistics.mean(len(set(f) & set(t)) / 10 for f, t in zip(found_f, truth_filtered)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="catalogue sizes")
    parser.add_argument("--queries", type=int, default=100, help="queries per table, per variant, on the index")
    parser.add_argument("--flat-queries", type=int, default=10, help="queries on the flat scan (1M: ~2 s each)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES), help="which tables")
    parser.add_argument("--folder", default="var/bench-retrieval", help="scratch LanceDB folder (removed before and after)")
    args = parser.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    results = []
    for rows in args.sizes:
        for n, name in enumerate(args.tables):
            result = bench_table(folder, f"{name}_{rows}", rows, TABLES[name], args.queries, args.flat_queries, seed=n)
            results.append(result)
            print(f"{name} {rows}: {result['plan']}; written in {result['write_s']:.0f} s, "
                  f"index built in {result['build_s']:.0f} s", flush=True)
    shutil.rmtree(folder)  # 2 GB at 1M
    print("\n| table | items | flat p50 / p99 ms | flat filtered p50 | index p50 / p99 ms | index filtered p50 / p99 "
          "| recall@10 | recall@10 filtered | speed-up p50 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['table'].split('_')[0]} ({r['dim']}-d) | {r['rows']:,} | {r['flat_p50']:.1f} / {r['flat_p99']:.1f} "
              f"| {r['flat_filtered_p50']:.1f} | {r['index_p50']:.2f} / {r['index_p99']:.2f} "
              f"| {r['index_filtered_p50']:.2f} / {r['index_filtered_p99']:.2f} | {r['recall']:.3f} "
              f"| {r['recall_filtered']:.3f} | {r['flat_p50'] / r['index_p50']:.1f}x |")
    largest = [r for r in results if r["rows"] == max(args.sizes)]
    slowest = min(largest, key=lambda r: r["flat_p50"] / r["index_p50"])  # the table furthest from the target
    label = f"{max(args.sizes) // 1_000_000}M" if max(args.sizes) >= 1_000_000 else f"{max(args.sizes) // 1000}k"
    print(f"retrieval {label}: recall@10 {min(r['recall'] for r in largest):.3f} "
          f"filtered {min(r['recall_filtered'] for r in largest):.3f}, index p50 {slowest['index_p50']:.2f} ms, "
          f"flat p50 {slowest['flat_p50']:.1f} ms, speed-up {slowest['flat_p50'] / slowest['index_p50']:.1f} x "
          f"(the lowest recalls of both tables; the times of the {slowest['table'].split('_')[0]} table, "
          "the smaller speed-up)")


if __name__ == "__main__":
    main()
