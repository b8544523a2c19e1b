"""What `explain=true` costs: the ranking pipeline's recommend for a user, without and with
their reasons, at k = 10, with the champion model (and with the per-event vector alone).

    PYTHONPATH=. .venv/bin/python scripts/bench_explain.py [--config configs/base.yaml] [--users 60]

Needs `make demo` (or the embed and train jobs) first. Each user likes 20 of the 300
most-listed items, a minute apart. In process, one thread: the milliseconds the
ingress spends in the pipeline, not the HTTP round trip. Prints median and p99 per
call, the ratio of medians, and how faithful the reasons are: the share of listed
items whose score (the strategy's, before re-ranks) falls when the user's likes of
their top reason are taken out and the state is rebuilt from the rest.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rec.config import load_config
from rec.evaluation.faithfulness import explanation_faithfulness, liked_profile
from rec.ranking.strategies import RankRequest
from scripts.champion import champion_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--users", type=int, default=60)
    args = parser.parse_args()
    config = load_config(args.config)
    torch.set_num_threads(1)  # as the ingress runs it
    print("| strategy | recommend, median ms | + explain, median ms | p99 without / with | ratio of medians "
          "| score falls without the top reason |")
    print("|---|---|---|---|---|---|")
    for with_model in (True, False):
        _, store, pipeline = champion_pipeline(config, config.interest, with_model)
        pool = [item.item_id for item in store.popular(300)]
        rng = np.random.default_rng(0)
        plain, explained, strategy = [], [], ""
        for n in range(args.users + 5):  # the first 5 warm the caches up
            picked = [str(i) for i in rng.choice(pool, size=20, replace=False)]
            vectors = store.vectors(picked)
            liked = {item: (vectors[item], 1000.0 + 60 * t) for t, item in enumerate(picked)}  # a minute apart
            profile = liked_profile(liked, config.interest, config.history_length)
            started = time.perf_counter()
            ranking = pipeline.recommend(profile, RankRequest(10))
            middle = time.perf_counter()
            pipeline.explain(profile, ranking)
            ended = time.perf_counter()
            strategy = next(s for s in pipeline.strategies if s.name == ranking.strategy)
            if n >= 5:
                plain.append(1e3 * (middle - started))
                explained.append(1e3 * (ended - started))
        falls, explained_items = explanation_faithfulness(pipeline, store.vectors(pool), pool, config.interest,
                                                          config.history_length, args.users)
        p50, e50 = np.median(plain), np.median(explained)
        print(f"| {strategy.name} | {p50:.1f} | {e50:.1f} | {np.percentile(plain, 99):.1f} / "
              f"{np.percentile(explained, 99):.1f} | {e50 / p50:.2f}x | {falls:.3f} of {explained_items} |")


if __name__ == "__main__":
    main()
