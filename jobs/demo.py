"""The demo: start the Serve app, replay real MovieLens events, show live answers.

    python -m jobs.demo --config configs/base.yaml [--users 5] [--exit]

Needs the embed job to have run. Replays the first events of a few
MovieLens users through POST /events (ratings 4-5 as like, 3 as view, 1-2 as
dislike; event ids derived from the file line, so a second run is a no-op),
prints their recommendations and a free-text query, then keeps serving on
127.0.0.1:8000 until Ctrl-C (or exits at once with --exit).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray import serve

from jobs.cli import setup_logging
from jobs.cluster import init_ray
from rec.config import RecConfig, load_config
from serve.app import AppArgs, build_app

log = logging.getLogger(__name__)

BASE_URL = "http://127.0.0.1:8000"
TEXT_QUERY = "I like space adventures and old musicals"


def rating_to_event_type(rating: float) -> str:
    return "like" if rating >= 4 else "view" if rating >= 3 else "dislike"


def demo_events(config: RecConfig, users: int, per_user: int) -> list[dict]:
    """The first `per_user` events (by time) of the `users` most active users."""
    events = pq.read_table(f"{config.paths.data_dir}/movielens/events.parquet")
    counts = events.group_by("user_id").aggregate([("user_id", "count")])
    top = counts.sort_by([("user_id_count", "descending")])["user_id"][:users]
    chosen = events.filter(pc.is_in(events["user_id"], top)).sort_by([("timestamp", "ascending"), ("line", "ascending")])
    out, taken = [], {}
    for row in chosen.to_pylist():
        if taken.setdefault(row["user_id"], 0) < per_user:
            taken[row["user_id"]] += 1
            out.append({
                "user_id": f"ml-{row['user_id']}", "item_id": row["item_id"],
                "type": rating_to_event_type(row["rating"]), "timestamp": row["timestamp"],
                "event_id": f"ml100k-{row['line']}",
            })
    return out


def show(client: httpx.Client, events: list[dict], config: RecConfig, metrics: bool = True) -> None:
    reply = client.post("/events", json=events).raise_for_status().json()
    print(f"\nReplayed {reply['received']} MovieLens events ({reply['accepted']} new, {reply['duplicates']} already logged)")
    for user_id in sorted({e["user_id"] for e in events})[:3]:
        started = time.perf_counter()
        recs = client.get(f"/users/{user_id}/recommendations", params={"k": 5}).raise_for_status().json()
        ms = (time.perf_counter() - started) * 1000
        print(f"\n{user_id}: {recs['n_events']} events, strategy {recs['strategy']} ({ms:.0f} ms)")
        for item in recs["items"]:
            print(f"  {item['score']:.3f}  {item['title']}  [{', '.join(item['categories'])}]")
    recs = client.post("/recommendations/text", json={"text": TEXT_QUERY, "k": 5}).raise_for_status().json()
    print(f"\n\"{TEXT_QUERY}\":")
    for item in recs["items"]:
        print(f"  {item['score']:.3f}  {item['title']}  [{', '.join(item['categories'])}]")
    user = events[0]["user_id"]
    metrics_line = f"Prometheus metrics: http://127.0.0.1:{config.serve.metrics_port}/metrics. " if metrics else ""
    print(f"""
Serving on {BASE_URL} (OpenAPI at {BASE_URL}/docs).
The demo page: {BASE_URL}/ (user {user} is preloaded; "New user" starts from nothing).
{metrics_line}Try:
  curl -s {BASE_URL}/version
  curl -s '{BASE_URL}/users/{user}/recommendations?k=10'
  curl -s -X POST {BASE_URL}/events -H 'content-type: application/json' \\
       -d '{{"user_id": "alice", "item_id": "50", "type": "like"}}'
  curl -s -X POST {BASE_URL}/recommendations/text -H 'content-type: application/json' \\
       -d '{{"text": "slow sci-fi and jazz", "k": 5}}'
  curl -s '{BASE_URL}/items/50/similar?k=5'
Ctrl-C stops it.""")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--users", type=int, default=5, help="MovieLens users to replay")
    parser.add_argument("--events-per-user", type=int, default=40, help="events replayed per user")
    parser.add_argument("--exit", action="store_true", help="stop after the demo instead of serving on")
    args = parser.parse_args()
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = load_config(args.config)
    init_ray(config.serve.metrics_port)
    # Ctrl-C, or a TERM from a supervisor, shuts the app and the local Ray down cleanly,
    # also while the app is still starting. After init_ray: Ray installs a TERM handler
    # of its own that aborts the driver, which would leave Ray's agents running.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = time.perf_counter()
        serve.start(http_options={"host": "127.0.0.1", "port": 8000})
        serve.run(build_app(AppArgs(config=args.config)), name="recommender", route_prefix="/")
        log.info("serve app up in %.1fs", time.perf_counter() - started)
        with httpx.Client(base_url=BASE_URL, timeout=60) as client:
            show(client, demo_events(config, args.users, args.events_per_user), config)
        print(json.dumps({"job": "demo", "url": BASE_URL, "startup_s": round(time.perf_counter() - started, 1)}))
        while not args.exit:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
