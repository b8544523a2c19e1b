"""What the interest model adds to a recommendation request, in-process.

    python scripts/bench_model_call.py [--config configs/base.yaml] [--calls 300]

Times the champion's query vector for one user (history lengths 10, 50,
200) exactly as the ingress replica computes it (ModelQueries, item
table computed once at start, one torch thread), against the same call with
the item table recomputed per call and against the LanceDB search that
follows it in the same request. Prints a Markdown table of medians.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from rec.registry.interest_models import resolve_interest_model
from rec.interest.queries import ModelQueries
from rec.storage.items_table import ItemStore
from scripts.champion import in_process_bench


def median_ms(fn, calls: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    config, calls = in_process_bench(__doc__, 300)
    version = resolve_interest_model(config.train.registered_name, "champion", config.paths)
    if version is None:
        raise SystemExit("no interest-model@champion: run make train first")
    runner = ModelQueries.from_dir(version.model_dir)  # what the ingress replica runs
    scoring = ItemStore(config.paths.lancedb_uri, version.scoring_table, version.scoring_table_version)
    model, item_ids = runner.model, list(runner.index)
    rng = np.random.default_rng(0)
    print(f"| history length | model call p50 ms | same, item table recomputed per call | "
          f"LanceDB search p50 ms | model / search |  ({version.tag})")
    print("|---|---|---|---|---|")
    for length in (10, 50, 200):
        picks = rng.choice(len(item_ids), size=length, replace=False)
        history, times = [item_ids[i] for i in picks], (np.arange(length, dtype=np.float64) * 60).tolist()
        query = runner.query_vector(history, times)
        model_ms = median_ms(lambda: runner.query_vector(history, times), calls)
        uncached_ms = median_ms(lambda: model.user_vectors([picks], [np.asarray(times)]), calls)
        search_ms = median_ms(lambda: scoring.search(query, 10, exclude=set(history)), calls)
        print(f"| {length} | {model_ms:.2f} | {uncached_ms:.2f} | {search_ms:.2f} | {model_ms / search_ms:.2f}x |")

if __name__ == "__main__":
    main()
