"""Simulated users on a running A/B test: which variant's lists do they take up more?

    PYTHONPATH=. .venv/bin/python scripts/simulate_ab_traffic.py [--url http://127.0.0.1:8000] [--users 300]

Needs a service with an A/B test on (serve.ab.challenger_share > 0, e.g.
`rec demo --config configs/ab_test.yaml`) and a challenger that differs from
the champion. Each simulated user has one hidden favourite genre: they like
`--likes` popular films of it, then, `--rounds` times, ask for their top 10 and
click each listed film of that genre with probability `--click` (sending the
answer's request_id on half of the clicks; the rest are matched by user, item
and time). So the variant whose lists hold more of the user's genre is truly
better here. Prints, per variant, the answers, the share of listed films in the
user's genre and the clicks sent; `rec ab-report` then measures it from the
service's own logs.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict

import httpx
import pyarrow.parquet as pq

from rec.config import load_config
from rec.evaluation.scenarios import PAIRS


def popular_by_genre(config_path: str, top: int) -> dict[str, list[str]]:
    """The `top` most-rated films of each scenario genre."""
    config = load_config(config_path)
    items = pq.read_table(config.catalog.path, columns=["item_id", "categories"]).to_pylist()
    events = pq.read_table(config.evaluate.events_path, columns=["item_id"])["item_id"].to_pylist()
    counts = Counter(events)
    genres = sorted({g for pair in PAIRS for g in pair})
    ranked = sorted(items, key=lambda row: -counts[row["item_id"]])
    return {g: [row["item_id"] for row in ranked if g in (row["categories"] or [])][:top] for g in genres}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running service")
    parser.add_argument("--config", default="configs/base.yaml", help="for the catalogue and events files")
    parser.add_argument("--users", type=int, default=300, help="simulated users")
    parser.add_argument("--likes", type=int, default=3, help="first likes, of popular films of the genre")
    parser.add_argument("--rounds", type=int, default=3, help="answers asked for per user")
    parser.add_argument("--click", type=float, default=0.3, help="chance of clicking a listed film of the genre")
    parser.add_argument("--api-key", help="X-API-Key, when the service has one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    films = popular_by_genre(args.config, 30)
    answers, in_genre, clicks = Counter(), defaultdict(list), Counter()
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as http:
        for n in range(args.users):
            user, genre = f"sim-{args.seed}-{n}", rng.choice(sorted(films))
            likes = [{"user_id": user, "item_id": i, "type": "like"} for i in rng.sample(films[genre], args.likes)]
            http.post("/events", json=likes).raise_for_status()
            for _ in range(args.rounds):
                answer = http.get(f"/users/{user}/recommendations", params={"k": 10}).raise_for_status().json()
                variant = answer["variant"]
                answers[variant] += 1
                liked = [item for item in answer["items"] if genre in item["categories"]]
                in_genre[variant].append(len(liked) / max(1, len(answer["items"])))
                for item in liked:
                    if rng.random() < args.click:
                        event = {"user_id": user, "item_id": item["item_id"], "type": "click"}
                        if rng.random() < 0.5:
                            event["request_id"] = answer["request_id"]
                        http.post("/events", json=event).raise_for_status()
                        clicks[variant] += 1
    print("| variant | answers | share of the user's genre in the top 10 | clicks sent |")
    print("|---|---|---|---|")
    for variant in sorted(answers):
        share = sum(in_genre[variant]) / len(in_genre[variant])
        print(f"| {variant} | {answers[variant]} | {share:.3f} | {clicks[variant]} |")


if __name__ == "__main__":
    main()
