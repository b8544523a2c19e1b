"""A user shard's restart time against its log size, with and without snapshots.

    PYTHONPATH=. .venv/bin/python scripts/bench_recovery.py [--sizes 100000 1000000 10000000]
        [--event-log nats://127.0.0.1:4222/BENCH_RECOVERY]   (the log on JetStream; default: a file)

For each size it writes one shard's event log of that many synthetic events (100 a
user, over 10,000 items with 384-d unit vectors, the event types in the proportions
of a real mix), then times, each in a fresh process:
- a restart without snapshots: UserShard reads and folds the whole log;
- a restart from a snapshot: the snapshot is written after the first `size - tail`
  events and the remaining `tail` events (10% of the log, at most serve's default
  snapshot_every_events of 100,000: the most a shard replays) are replayed on it.
A restart is what a shard deployment does when it starts: UserShard(...) and prepare()
of the live vector space (item vectors from memory here; in serve, from the pinned
LanceDB version). The log file was just written, so it is in the page cache in both.
It checks that both restarts give every user the same state, and prints a table
and, last: `recovery 10M: snapshot X s, whole log Y s, Z x faster`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rec.config import load_config
from rec.interest.shard import UserShard
from rec.storage.event_log import shard_log_path
from rec.storage.jetstream import client, delete_stream
from rec.storage.record_log import is_stream, open_record_log

ITEMS, DIM, EVENTS_PER_USER, MAX_TAIL = 10_000, 384, 100, 100_000
TYPES = ["view"] * 5 + ["click"] * 3 + ["like", "like", "add_to_cart", "purchase", "dislike", "skip"]
TAG = "text-encoder/1"


def item_vectors() -> dict[str, np.ndarray]:
    vectors = np.random.default_rng(0).normal(size=(ITEMS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {f"i{n}": v for n, v in enumerate(vectors)}


def write_log(location: str | Path, start: int, count: int) -> None:
    """Events start..start+count-1 as shard 0 logs them (users interleaved, time increasing)."""
    rng = np.random.default_rng(start)
    users = max(1, (start + count) // EVENTS_PER_USER)
    user_ids, item_ids = rng.integers(0, users, count), rng.integers(0, ITEMS, count)
    types = rng.integers(0, len(TYPES), count)
    records = ({"event_id": f"e{start + n}", "user_id": f"u{user_ids[n]}", "item_id": f"i{item_ids[n]}",
                "type": TYPES[types[n]], "timestamp": round(1.7e9 + (start + n) * 0.01, 2),
                "logged_at": round(1.7e9 + (start + n) * 0.01, 2)} for n in range(count))
    log = open_record_log(location, "events", 0)
    for chunk in iter(lambda: list(itertools.islice(records, 10_000)), []):
        log.append(chunk)
    log.close()


def log_megabytes(location: str | Path) -> float:
    if is_stream(location):
        stream = client(str(location))
        return stream.run(stream.js.stream_info(stream.stream)).state.bytes / 1e6
    return shard_log_path(location, 0).stat().st_size / 1e6


def restart(log_dir: str, snapshot_dir: str | None, out: multiprocessing.Queue) -> None:
    """One shard start in this (fresh) process: its seconds and a digest of the states."""
    config = load_config("configs/base.yaml")
    vectors = item_vectors()
    lookup = lambda ids: {i: vectors[i] for i in ids if i in vectors}  # noqa: E731
    started = time.perf_counter()
    shard = UserShard(0, 1, log_dir, config=config.interest, history_length=config.history_length,
                      snapshot_dir=snapshot_dir, snapshot_every=0)
    shard.prepare(TAG, DIM, lookup)
    seconds = time.perf_counter() - started
    states = shard.states
    digest = [len(states), sum(s.n_events for s in states.values()),
              float(sum(np.abs(s.accumulator).sum() for s in states.values()))]
    out.put((seconds, digest))


def in_fresh_process(log_dir: Path, snapshot_dir: Path | None) -> tuple[float, list]:
    queue = multiprocessing.get_context("spawn").Queue()
    worker = multiprocessing.get_context("spawn").Process(
        target=restart, args=(str(log_dir), str(snapshot_dir) if snapshot_dir else None, queue))
    worker.start()
    result = queue.get()
    worker.join()
    return result


def take_snapshot(log_dir: Path, snapshot_dir: Path) -> tuple[float, int]:
    """Rebuild from the log so far and write its snapshot: (seconds to write it, bytes)."""
    config = load_config("configs/base.yaml")
    vectors = item_vectors()
    shard = UserShard(0, 1, log_dir, DIM, config.interest, lambda ids: {i: vectors[i] for i in ids},
                      config.history_length, TAG, snapshot_dir=snapshot_dir)
    started = time.perf_counter()
    name = shard.snapshot()
    seconds = time.perf_counter() - started
    shard.close()
    return seconds, (snapshot_dir / name).stat().st_size


def measure(size: int, root: Path, stream: str | None) -> dict:
    log_dir, snapshot_dir = stream or root / f"log-{size}", root / f"snapshots-{size}"
    tail = min(MAX_TAIL, size // 10)
    write_log(log_dir, 0, size - tail)
    write_seconds, snapshot_bytes = take_snapshot(log_dir, snapshot_dir)
    write_log(log_dir, size - tail, tail)
    from_snapshot, digest = in_fresh_process(log_dir, snapshot_dir)
    whole_log, expected = in_fresh_process(log_dir, None)
    assert digest[:2] == expected[:2] and abs(digest[2] - expected[2]) <= 1e-6 * expected[2], (digest, expected)
    result = {"events": size, "users": digest[0], "tail": tail, "log_mb": log_megabytes(log_dir),
              "whole_log_s": whole_log, "snapshot_s": from_snapshot, "snapshot_mb": snapshot_bytes / 1e6,
              "snapshot_write_s": write_seconds}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}), flush=True)
    if stream:
        delete_stream(stream)
    else:
        shutil.rmtree(log_dir)
    shutil.rmtree(snapshot_dir)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--event-log", help="a nats://host:port/STREAM to log to (made and deleted for each size)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    try:
        results = [measure(size, root, args.event_log) for size in args.sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n| events in the log | users | log | restart, whole log | restart, snapshot + tail | tail replayed "
          "| snapshot size | snapshot write |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['events']:,} | {r['users']:,} | {r['log_mb']:.0f} MB | {r['whole_log_s']:.2f} s "
              f"| {r['snapshot_s']:.2f} s | {r['tail']:,} | {r['snapshot_mb']:.0f} MB "
              f"| {r['snapshot_write_s']:.2f} s |")
    last = results[-1]
    label = f"{last['events'] / 1e6:g}M" if last["events"] >= 1e6 else f"{last['events']:,}"
    print(f"recovery {label}: snapshot {last['snapshot_s']:.2f} s, whole log {last['whole_log_s']:.2f} s, "
          f"{last['whole_log_s'] / last['snapshot_s']:.1f} x faster")


if __name__ == "__main__":
    main()
