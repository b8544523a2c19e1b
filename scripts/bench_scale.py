"""Recommendation latency through the API at 10k, 100k and 1M items.

    PYTHONPATH=. .venv/bin/python scripts/bench_scale.py [--sizes 10000 100000 1000000] [--requests 100]

Nothing else may run on the machine (it starts its own local Ray and Serve on a free
127.0.0.1 port). In a scratch REC_HOME it registers the encoder, then for each size
writes a synthetic items table of that many 384-d vectors, clustered as text embeddings
are (scripts/bench_retrieval.py), indexes it as the embed job would (none at 10k, which
serve then searches in memory; IVF_SQ at 100k and 1M), publishes it as the encoder's
live table and serves the app on it (the per-event interest vector: no interest model).
A user likes 20 items of one topic; then, sequentially, `--requests` of each:
GET /healthz (the same app's trivial route), GET /users/{id}/recommendations (k = 10,
the user's 20 items excluded) and GET /items/{id}/similar. Prints p50 / p99 per size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

from rec.config import load_config
from rec.registry.encoders import ensure_encoder, publish_items_version
from rec.storage.items_table import index_if_large, write_version
from rec.catalog.schemas import items_table_schema
from scripts.bench_retrieval import GENRES, clustered, table_batches

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append(1000 * (time.perf_counter() - started))
    return samples


def p99(samples: list[float]) -> float:
    return float(np.percentile(samples, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="catalogue sizes")
    parser.add_argument("--requests", type=int, default=100, help="sequential requests per route and size")
    args = parser.parse_args()
    import ray
    from ray import serve

    from serve.app import AppArgs, build_app

    home = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows_out = []
    try:
        path = home / "scale.yaml"
        path.write_text(yaml.safe_dump({"inherit": str(Path("configs/base.yaml").resolve()), "paths": {"home": str(home)},
                                        "serve": {"interest_model_alias": None}}))
        config = load_config(path)
        encoder = ensure_encoder(config.encoder, config.paths)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ray.init(address="local", include_dashboard=False, _temp_dir=str(Path("/tmp") / f"ray-scale-{os.getpid()}"))
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for rows in args.sizes:
            rng = np.random.default_rng(rows)
            vectors, topic, topic_genre = clustered(rows, 384, rng)
            categories = [[GENRES[topic_genre[t]]] for t in topic]
            name = f"items_{rows}"
            table = write_version(config.paths.lancedb_uri, name, table_batches(vectors, categories, 384, encoder.tag),
                                  items_table_schema(384))
            plan = index_if_large(table, config.embed.index_min_rows)
            publish_items_version(encoder, name, int(table.version), config.paths, alias=config.encoder.alias)
            serve.run(build_app(AppArgs(config=str(path))), name="scale", route_prefix="/")
            liked = [f"i{i}" for i in np.flatnonzero(topic == topic[0])[:20]]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                client.post("/events", json=[{"user_id": "u", "item_id": i, "type": "like"} for i in liked]).raise_for_status()
                routes = {"healthz": "/healthz", "user": "/users/u/recommendations?k=10", "similar": f"/items/{liked[0]}/similar?k=10"}
                for route in routes.values():
                    timed(client, route, 5)  # warm up
                samples = {name: timed(client, route, args.requests) for name, route in routes.items()}
            serve.delete("scale")
            rows_out.append((rows, "in memory" if rows <= config.serve.in_memory_max_items else (
                f"LanceDB, {plan.why.split(':')[0]}" if plan else "LanceDB, flat"), samples))
            print(f"{rows} items done", flush=True)
        serve.shutdown()
        ray.shutdown()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("\n| items | search | healthz p50 / p99 ms | recommendations p50 / p99 ms | similar p50 / p99 ms |")
    print("|---|---|---|---|---|")
    for rows, search, s in rows_out:
        print(f"| {rows:,} | {search} | " + " | ".join(
            f"{statistics.median(s[r]):.1f} / {p99(s[r]):.1f}" for r in ("healthz", "user", "similar")) + " |")


if __name__ == "__main__":
    main()
