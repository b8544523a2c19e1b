"""What the durability tests use, on one node or many: clients that post events until each
batch is acknowledged, the app's replicas found and killed, and the checks that every
acknowledged event is logged once and every live user state equals the log."""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import ray
from ray import serve

from rec.config import EVENT_TYPES, RecConfig
from rec.interest.profile import UserProfile
from rec.interest.shard import UserShard, shard_of
from rec.registry.encoders import resolve_encoder
from rec.storage.event_log import read_all_logs
from rec.storage.items_table import ItemStore

APP = "durable"
RETRY_DEADLINE_S = 180.0  # a client gives up on a request after this long
Key = tuple[str, str]  # (user_id, event_id)


# -- clients ---------------------------------------------------------------


@dataclass
class Clients:
    """Client threads that post batches until each one is acknowledged."""

    url: str
    acked: set[Key] = field(default_factory=set)
    sent: set[Key] = field(default_factory=set)
    resends: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post_until_acked(self, http: httpx.Client, batch: list[dict]) -> None:
        keys = {(e["user_id"], e["event_id"]) for e in batch}
        with self.lock:
            self.sent |= keys
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while True:
            try:
                response = http.post("/events", json=batch)
                if response.status_code == 200:
                    with self.lock:
                        self.acked |= keys
                    return
                # The request was valid: only a server-side failure may refuse it.
                assert response.status_code >= 500 or response.status_code in (404, 408, 429), response.text
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no ack for {len(batch)} events in {RETRY_DEADLINE_S}s"
            with self.lock:
                self.resends += 1
            time.sleep(0.2)  # and resend the same events: same event ids, so at most once in the log

    def run(self, batches_per_thread: Sequence[Sequence[list[dict]]]) -> None:
        """Each thread posts its batches in order; returns when all are acknowledged."""
        def worker(batches: Sequence[list[dict]]) -> None:
            with httpx.Client(base_url=self.url, timeout=60) as http:
                for batch in batches:
                    self.post_until_acked(http, batch)

        with ThreadPoolExecutor(len(batches_per_thread)) as pool:
            for future in [pool.submit(worker, batches) for batches in batches_per_thread]:
                future.result()

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


def make_batches(
    tag: str, users: Sequence[str], item_ids: Sequence[str], n_events: int, threads: int, batch_size: int, seed: int,
) -> list[list[list[dict]]]:
    """`n_events` random events for `users`, in batches, spread over `threads` lists."""
    rng = random.Random(seed)
    start = time.time() - 86_400
    events = [{
        "user_id": rng.choice(users), "item_id": rng.choice(item_ids), "type": rng.choice(EVENT_TYPES),
        "timestamp": start + i * 7.0, "event_id": f"{tag}-{i}",
    } for i in range(n_events)]
    batches = [events[i:i + batch_size] for i in range(0, n_events, batch_size)]
    return [batches[t::threads] for t in range(threads)]


def drive_and_kill(
    clients: Clients, batches: list[list[list[dict]]], kill: Callable[[], dict[str, int]], after_acks: int,
) -> dict:
    """Run the clients; once `after_acks` events are acknowledged, call `kill` while they go on."""
    with ThreadPoolExecutor(1) as pool:
        driver = pool.submit(clients.run, batches)
        while clients.acked_count() < after_acks and not driver.done():
            time.sleep(0.02)
        assert not driver.done(), "the clients finished before the kill: give them more events"
        acked_at_kill = clients.acked_count()
        killed = kill()
        driver.result(timeout=RETRY_DEADLINE_S * 2)
    return {"acked_at_kill": acked_at_kill, "killed": killed}


# -- replicas --------------------------------------------------------------


def replica_pids(deployment: str | None = None) -> dict[str, int]:
    """Live replica actors of the app (name -> pid), optionally of one deployment."""
    return _ask_replicas(deployment, lambda _: os.getpid())


def replica_nodes(deployment: str | None = None) -> dict[str, str]:
    """Live replica actors of the app (name -> the id of the Ray node they run on)."""
    return _ask_replicas(deployment, lambda _: ray.get_runtime_context().get_node_id())


def _ask_replicas(deployment: str | None, question: Callable) -> dict:
    prefix = f"SERVE_REPLICA::{APP}#{deployment + '#' if deployment else ''}"
    answers = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if not actor["name"].startswith(prefix):
            continue
        try:
            handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
            answers[actor["name"]] = ray.get(handle.__ray_call__.remote(question), timeout=10)
        except (ValueError, ray.exceptions.RayError):  # dead, or not started yet
            continue
    return answers


def kill_9(pids: dict[str, int]) -> dict[str, int]:
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    return pids


def wait_for_replacements(killed: dict[str, int], timeout_s: float = 120.0) -> dict[str, int]:
    """Wait until every killed replica is replaced by one in a new process; returns the new ones."""
    wanted = Counter(name.split("#")[1] for name in killed)  # deployment -> replicas
    deadline = time.monotonic() + timeout_s
    while True:
        alive = replica_pids()
        fresh = {
            name: pid for name, pid in alive.items()
            if pid not in killed.values() and name.split("#")[1] in wanted
        }
        if Counter(name.split("#")[1] for name in fresh) >= wanted:
            return fresh
        assert time.monotonic() < deadline, f"no new replicas of {dict(wanted)} after {timeout_s}s: {alive}"
        time.sleep(0.5)


def ingress_acks() -> dict[str, int]:
    """POST /events answered 200, per ingress replica of the app, from Serve's access logs."""
    logs = Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"  # no public API for it
    return {
        path.stem.rsplit("_", 1)[1]: path.read_text().count(f"POST /{APP}/events 200")
        for path in logs.glob(f"replica_{APP}_Ingress_*.log")
    }


# -- checks ----------------------------------------------------------------


def live_profiles(config: RecConfig, users: Sequence[str]) -> dict[str, UserProfile]:
    """Each user's state as the live shard replica holds it."""
    n = config.serve.user_shards
    handles = [serve.get_deployment_handle(f"UserShard{i}", app_name=APP) for i in range(n)]
    return {user: handles[shard_of(user, n)].profile.remote(user).result(timeout_s=60) for user in users}


def rebuilt_profiles(config: RecConfig, users: Sequence[str], scratch: Path) -> dict[str, UserProfile]:
    """Each user's state rebuilt from (a copy of) the event log, as a restarting shard does
    (a stream is read where it is: opening a shard on it writes nothing)."""
    copy = config.paths.event_log_dir
    if not copy.startswith("nats://"):
        copy = scratch / f"log-copy-{time.monotonic_ns()}"
        shutil.copytree(config.paths.event_log_dir, copy)
    live = resolve_encoder(config.encoder, config.paths)
    store = ItemStore(config.paths.lancedb_uri, live.items_table, live.items_table_version)
    n = config.serve.user_shards
    shards = [
        UserShard(i, n, copy, store.dim, config.interest, store.vectors, config.history_length)
        for i in range(n)
    ]
    profiles = {user: shards[shard_of(user, n)].profile(user) for user in users}
    for shard in shards:
        shard.close()
    return profiles


def assert_same_state(actual: dict[str, UserProfile], expected: dict[str, UserProfile]) -> None:
    assert actual.keys() == expected.keys()
    for user, want in expected.items():
        got = actual[user]
        assert got.n_events == want.n_events, user
        assert got.seen_items == want.seen_items, user
        assert got.recent_items == want.recent_items, user
        np.testing.assert_allclose(got.recent_timestamps, want.recent_timestamps, err_msg=user)
        assert (got.interest is None) == (want.interest is None), user
        if want.interest is not None:
            np.testing.assert_allclose(got.interest, want.interest, atol=1e-6, err_msg=user)


def assert_log_holds_acked_once(config: RecConfig, clients: Clients) -> Counter:
    """Every acknowledged event is in the log, once; nothing else from these clients is."""
    logged = Counter(
        (e.user_id, e.event_id) for e in read_all_logs(config.paths.event_log_dir)
        if (e.user_id, e.event_id) in clients.sent
    )
    assert clients.acked <= logged.keys(), f"{len(clients.acked - logged.keys())} acked events not in the log"
    assert max(logged.values()) == 1, "an event is logged twice"
    return logged


def assert_live_equals_log(config: RecConfig, users: Sequence[str], scratch: Path) -> None:
    assert_same_state(live_profiles(config, users), rebuilt_profiles(config, users, scratch))
