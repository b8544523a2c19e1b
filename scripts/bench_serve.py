"""Latency of the live API against Serve's own trivial endpoint, same run.

    python scripts/bench_serve.py [--url http://127.0.0.1:8000] [--requests 200]

Needs a running app (make demo, or serve run configs/serve.yaml). One client,
sequential requests, bounded in count; prints a Markdown table of p50/p90/p99
and the p50 ratio to GET /healthz (the cost of the Serve proxy hop alone).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import httpx


def timed(client: httpx.Client, n: int, request) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        request(client, i).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the app")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    args = parser.parse_args()
    user = f"bench-{uuid.uuid4().hex[:8]}"
    cases = {
        "GET /healthz (Serve baseline)": lambda c, i: c.get("/healthz"),
        "POST /events (1 event)": lambda c, i: c.post(
            "/events", json={"user_id": user, "item_id": str(1 + i % 400), "type": "like"}),
        "GET /users/{id}/recommendations k=10": lambda c, i: c.get(f"/users/{user}/recommendations"),
        "GET /items/{id}/similar k=10": lambda c, i: c.get(f"/items/{1 + i % 400}/similar"),
        "POST /recommendations/text k=10": lambda c, i: c.post(
            "/recommendations/text", json={"text": f"films about topic {i % 20}", "k": 10}),
    }
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for request in cases.values():  # warm up every path once
            timed(client, 3, request)
        results = {name: timed(client, args.requests, request) for name, request in cases.items()}
    base = statistics.median(results["GET /healthz (Serve baseline)"])
    print(f"| endpoint ({args.requests} sequential requests) | p50 ms | p90 ms | p99 ms | p50 / healthz |")
    print("|---|---|---|---|---|")
    for name, samples in results.items():
        p50 = statistics.median(samples)
        print(f"| {name} | {p50:.1f} | {percentile(samples, 90):.1f} | {percentile(samples, 99):.1f} | {p50 / base:.1f}x |")


if __name__ == "__main__":
    main()
