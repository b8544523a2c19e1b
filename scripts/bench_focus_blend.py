"""What the focus blend costs per recommendation: the pipeline's recommend at k = 10 with the
champion, for a user whose likes are one genre's (the blend runs) and one whose are mixed
(the focus is computed, the blend does not run), with the blend on and off, and with the
pinned tables searched in memory (serve.in_memory_max_items, as serve does for small
tables) or by LanceDB.

    PYTHONPATH=. .venv/bin/python scripts/bench_focus_blend.py [--config configs/base.yaml] [--calls 200]

Needs `make demo` (or the embed and train jobs) first. In process, one thread: the
milliseconds the ingress spends in the pipeline, not the HTTP round trip. Prints the
median and p99 per call and the ratio of medians against the blend off, measured in
the same run.
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np

from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.strategies import RankRequest
from scripts.champion import champion_pipeline, in_process_bench


def main() -> None:
    config, calls = in_process_bench(__doc__, 200)
    rows = {}
    for (source, limit), blend in product((("in memory", None), ("LanceDB", 0)), ("on", "off")):
        interest = config.interest if blend == "on" else config.interest.model_copy(update={"text_blend": 0.0})
        _, store, pipeline = champion_pipeline(config, interest, in_memory_max_items=limit)
        popular = store.popular(300)
        users = {
            "one genre (10 horror likes)": [i.item_id for i in popular if "Horror" in i.categories][:10],
            "mixed (10 popular likes)": [i.item_id for i in popular][:10],
        }
        for name, items in users.items():
            vectors = store.vectors(items)
            state = InterestState.empty(store.dim)
            for n, item in enumerate(items):
                apply_event(state, item, vectors[item], "like", 1_000_000.0 + 60 * n, interest, config.history_length)
            profile = user_profile("bench", state)
            for _ in range(20):  # warm up
                pipeline.recommend(profile, RankRequest(10))
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                pipeline.recommend(profile, RankRequest(10))
                times.append((time.perf_counter() - started) * 1000)
            rows[(source, name, blend)] = (float(np.median(times)), float(np.percentile(times, 99)))
    print("| pinned tables searched | user | blend | median ms | p99 ms | median / blend off | median / LanceDB |")
    print("|---|---|---|---|---|---|---|")
    for (source, name, blend), (median, p99) in rows.items():
        print(f"| {source} | {name} | {blend} | {median:.2f} | {p99:.2f} | {median / rows[(source, name, 'off')][0]:.2f}x"
              f" | {median / rows[('LanceDB', name, blend)][0]:.2f}x |")


if __name__ == "__main__":
    main()
