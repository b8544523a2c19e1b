"""Replay the evaluation users through the live API and measure it there.

    python -m jobs.replay --config configs/base.yaml [--url http://127.0.0.1:8000] [--users 943]

For every test user of the leave-one-out split (shared/anchors/quality.md),
posts their train and validation events in order through POST /events (as
fresh user ids, so live users are untouched), asks
GET /users/{id}/recommendations?k=20 and ranks the held-out test item in the
answer. Prints online HR@10 / NDCG@10 next to the offline figures of the
champion model (tags on its registered version) and their relative gap.
Sends the config's ``serve.api_key`` as X-API-Key when one is set.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
import uuid

import httpx
import numpy as np

from jobs.train_interest import load_training_data
from rec.config import RecConfig, load_config
from rec.registry.interest_models import TEST_HR_TAG, TEST_NDCG_TAG
from rec.registry.encoders import connect, resolve_encoder
from rec.evaluation.splits import LeaveOneOutSplit

log = logging.getLogger(__name__)


def load_split(config: RecConfig) -> LeaveOneOutSplit:
    """The split the training job used (events of items in the live catalogue)."""
    live = resolve_encoder(config.encoder, config.paths)
    return load_training_data(config, live)[0].split


def user_events(split: LeaveOneOutSplit, user: str, prefix: str) -> list[dict]:
    """The user's train events then the validation event, as API events."""
    u = int(split.users.encode(np.asarray([user]))[0])
    sl = slice(split.train_indptr[u], split.train_indptr[u + 1])
    rows = list(zip(split.train.item_id[sl], split.train.timestamp[sl], split.train.line[sl]))
    valid = np.flatnonzero(split.valid.user_id == user)
    rows += [(split.valid.item_id[r], split.valid.timestamp[r], split.valid.line[r]) for r in valid]
    return [{"user_id": f"{prefix}{user}", "item_id": str(item), "type": "like",
             "timestamp": float(ts), "event_id": f"{prefix}{line}"} for item, ts, line in rows]


def post_all(client: httpx.Client, events: list[dict], batch_size: int) -> None:
    for start in range(0, len(events), batch_size):
        client.post("/events", json=events[start : start + batch_size]).raise_for_status()


def rank_of(target: str, items: list[dict]) -> int | None:
    ids = [item["item_id"] for item in items]
    return ids.index(target) if target in ids else None


def offline_figures(config: RecConfig) -> dict[str, float]:
    """The champion's offline test figures, as tagged at registration."""
    tags = connect(config.paths).get_model_version_by_alias(
        config.train.registered_name, config.train.champion_alias).tags
    return {"HR@10": float(tags[TEST_HR_TAG]), "NDCG@10": float(tags[TEST_NDCG_TAG])}


def replay_ranks(
    split: LeaveOneOutSplit, url: str, users: int | None, batch_size: int, api_key: str | None = None
) -> tuple[list[int | None], dict[str, int]]:
    """Rank of each test target in the live top-20 (None = not in it), and the strategies used.

    ``api_key``: sent as X-API-Key (an app with ``serve.api_key`` set refuses events without it).
    """
    prefix = f"replay-{uuid.uuid4().hex[:6]}-"
    targets = list(zip(split.test.user_id, split.test.item_id))[:users]
    ranks, strategies = [], {}
    headers = {"X-API-Key": api_key} if api_key else {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        events = [e for user, _ in targets for e in user_events(split, str(user), prefix)]
        post_all(client, events, batch_size)
        for user, item in targets:
            reply = client.get(f"/users/{prefix}{user}/recommendations", params={"k": 20}).raise_for_status().json()
            strategies[reply["strategy"]] = strategies.get(reply["strategy"], 0) + 1
            ranks.append(rank_of(str(item), reply["items"]))
    return ranks, strategies


def replay(config: RecConfig, url: str, users: int | None, batch_size: int) -> dict:
    started = time.perf_counter()
    ranks, strategies = replay_ranks(load_split(config), url, users, batch_size, config.serve.api_key)
    hr10 = float(np.mean([r is not None and r < 10 for r in ranks]))
    ndcg10 = float(np.mean([1 / math.log2(r + 2) if r is not None and r < 10 else 0.0 for r in ranks]))
    online = {"HR@10": hr10, "NDCG@10": ndcg10,
              "HR@20": float(np.mean([r is not None for r in ranks]))}
    offline = offline_figures(config)
    gaps = {k: (online[k] - offline[k]) / offline[k] for k in offline}
    print("| metric | offline (champion) | online (replay) | relative gap |\n|---|---|---|---|")
    for key in offline:
        print(f"| {key} | {offline[key]:.4f} | {online[key]:.4f} | {gaps[key]:+.2%} |")
    return {"job": "replay", "users": len(ranks), "strategies": strategies,
            "online": {k: round(v, 4) for k, v in online.items()}, "offline": offline,
            "relative_gap": {k: round(v, 4) for k, v in gaps.items()},
            "duration_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the running app")
    parser.add_argument("--users", type=int, default=None, help="replay only the first N test users")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per POST /events")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(replay(load_config(args.config), args.url, args.users, args.batch_size)))


if __name__ == "__main__":
    main()
