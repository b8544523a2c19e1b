"""What the interest model adds to a recommendation request, in-process.

    python scripts/bench_model_call.py [--config configs/base.yaml] [--calls 300]

Times the champion's user_vectors() for one user (history lengths 10, 50,
200) against the LanceDB search that follows it in the same request, on
one torch thread as in the ingress replica. Prints a Markdown table of
medians and the ratio model / search.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rec.config import load_config
from rec.interest_registry import resolve_interest_model
from rec.sequence import load_model
from rec.store import ItemStore


def median_ms(fn, calls: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    version = resolve_interest_model(config.train.registered_name, "champion", config.paths)
    if version is None:
        raise SystemExit("no interest-model@champion: run make train first")
    model = load_model(version.model_dir)
    scoring = ItemStore(config.paths.lancedb_uri, version.scoring_table, version.scoring_table_version)
    rng = np.random.default_rng(0)
    print(f"| history length | model call p50 ms | LanceDB search p50 ms | model / search |  ({version.tag})")
    print("|---|---|---|---|")
    for length in (10, 50, 200):
        history = rng.choice(model.n_items, size=length, replace=False)
        times = np.arange(length, dtype=np.float64) * 60
        query = model.user_vectors([history], [times])[0]
        seen = {str(i) for i in history}
        model_ms = median_ms(lambda: model.user_vectors([history], [times]), args.calls)
        search_ms = median_ms(lambda: scoring.search(query, 10, exclude=seen), args.calls)
        print(f"| {length} | {model_ms:.2f} | {search_ms:.2f} | {model_ms / search_ms:.2f}x |")


if __name__ == "__main__":
    main()
