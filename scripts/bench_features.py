"""What each ranking feature adds to one recommendation at k = 10, in one run: the same
request with the feature and without it, with the champion, in process (one thread: the
time the ingress spends ranking, not the HTTP round trip).

    PYTHONPATH=. .venv/bin/python scripts/bench_features.py [--config configs/base.yaml] [--calls 300]

Needs `make demo` (or the embed and train jobs). Two users: one who liked 5 films of
each of two genres in turn (multi-interest merges for them) and one who liked 10 of one
genre. Rows: the plain request; explain=true; diversity 0.25; a year range; the
multi-interest merge (multi_interests 3, as configured otherwise); the A/B test's part
(the user's variant and the impression logged, flushed to disk every 100 calls as the
background task would). Each feature is timed in turn with the plain request of the same
user, call for call, so drift hits both alike: their medians and p99s, the ratio of
medians and the milliseconds added.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from itertools import chain

import numpy as np

from rec.ab.variants import variant_of
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.strategies import RankRequest
from rec.storage.impressions import Impression, ImpressionLog, impressions_path
from rec.catalog.filters import year_range
from scripts.champion import champion_pipeline, in_process_bench


def timed(calls: int, *variants: Callable[[], object]) -> list[tuple[float, float]]:
    """(median, p99) ms of each call, the calls taken in turn so that drift hits them alike."""
    for _ in range(20):  # warm up
        for call in variants:
            call()
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(calls):
        for call, spent in zip(variants, times):
            started = time.perf_counter()
            call()
            spent.append((time.perf_counter() - started) * 1000)
    return [(float(np.median(t)), float(np.percentile(t, 99))) for t in times]


def main() -> None:
    config, calls = in_process_bench(__doc__, 300)
    _, store, plain = champion_pipeline(config, config.interest)
    _, _, merged = champion_pipeline(config, config.interest.model_copy(update={"multi_interests": 3}))
    popular = store.popular(400)
    horror = [i.item_id for i in popular if "Horror" in i.categories and "Musical" not in i.categories]
    musicals = [i.item_id for i in popular if "Musical" in i.categories and "Horror" not in i.categories]
    users = {"two genres (5 + 5 in turn)": list(chain.from_iterable(zip(horror[:5], musicals[:5]))),
             "one genre (10 likes)": horror[:10]}
    log = ImpressionLog(impressions_path(tempfile.mkdtemp(), "bench"))
    print("| user | with | plain: median / p99 ms | with it: median / p99 ms | median ratio | median added ms |")
    print("|---|---|---|---|---|---|")
    for name, items in users.items():
        vectors = store.vectors(items)
        state = InterestState.empty(store.dim)
        for n, item in enumerate(items):
            apply_event(state, item, vectors[item], "like", 1_000_000.0 + 60 * n, config.interest,
                        config.history_length)
        profile = user_profile("bench-user", state)
        request = RankRequest(10)
        served = 0

        def with_ab() -> None:
            nonlocal served
            variant = variant_of(profile.user_id, 0.5, "bench")
            ranking = plain.recommend(profile, request)
            log.add(Impression(f"r{served}", profile.user_id, "user", variant, "interest-model/1",
                               tuple(i.item_id for i in ranking.items), 0, time.time()))
            served += 1
            if served % 100 == 0:
                log.flush()

        rows = {
            "plain": lambda: plain.recommend(profile, request),
            "explain=true": lambda: plain.explain(profile, plain.recommend(profile, request)),
            "diversity 0.25": lambda: plain.recommend(profile, RankRequest(10, diversity=0.25)),
            "year_min 1980, year_max 1999": lambda: plain.recommend(profile, RankRequest(10, filters=year_range(1980, 1999))),
            "multi-interest (3)": lambda: merged.recommend(profile, request),
            "A/B: variant + impression": with_ab,
        }
        plain_call = rows.pop("plain")
        for label, call in rows.items():
            (base, base_p99), (median, p99) = timed(calls, plain_call, call)
            print(f"| {name} | {label} | {base:.2f} / {base_p99:.2f} | {median:.2f} / {p99:.2f} | "
                  f"{median / base:.2f}x | {median - base:+.2f} |", flush=True)
    log.close()


if __name__ == "__main__":
    main()
