"""Invariants 2 and 4 under fire, over real HTTP on a real local Ray cluster.

Durability (invariant 2): client threads post events while the process that
holds a shard's user states is killed with SIGKILL (then every replica of the
app); Serve's controller starts new replicas, which rebuild their states from
the event log. Clients resend a request that got no 2xx with the same event
ids. Afterwards every acknowledged event is in the log exactly once, and every
user's live state equals the state rebuilt from the log. (A killed process
loses what it had not yet written; this catches an ack sent before the write,
or a write left in a user-space buffer. The fsync is what also covers a power
cut, which no test here simulates.)

No lost updates (invariant 4): many client threads post events for the same
few users at once through two ingress replicas. The mechanism: ingress
replicas hold no user state; users are hashed (crc32) onto `serve.user_shards`
shard deployments of exactly one replica each, whose async methods have no
await inside, so a shard's event loop runs them one at a time. Every event of
a user is therefore logged (fsynced) and applied by one replica in log order,
whichever ingress replica or client sent it; scaling out means more shards.

The app under test is its own (`durable`, under /durable, with its own event
log and `serve.ingress_replicas: 2`), so killing its replicas leaves the other
tests' app alone. Every test runs on both event-log backends: JSON-lines files,
and a JetStream stream on the NATS server at 127.0.0.1:4222. The long versions are marked slow: `pytest -m slow
tests/integration/test_durability.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import lancedb
import pytest
import yaml
from ray import serve

from durability_checks import (
    APP, Clients, assert_live_equals_log, assert_log_holds_acked_once, assert_same_state, drive_and_kill,
    ingress_acks, kill_9, live_profiles, make_batches, replica_pids, wait_for_replacements,
)
from jetstream_server import delete_stream, new_stream_location
from rec.config import RecConfig, load_config
from rec.interest.shard import shard_of
from rec.storage.event_log import read_all_logs

pytestmark = pytest.mark.ray

INGRESS_REPLICAS = 2
SNAPSHOT_EVERY = 20  # events a user shard logs between snapshots


@dataclass
class DurableApp:
    url: str
    config: RecConfig
    item_ids: list[str]

    @property
    def on_stream(self) -> bool:
        return self.config.paths.event_log_dir.startswith("nats://")


@pytest.fixture(scope="module", params=["jsonl", pytest.param("jetstream", marks=pytest.mark.jetstream)])
def app(request: pytest.FixtureRequest, base_url: str, rec_home: Path) -> Iterator[DurableApp]:
    """A second copy of the app with two ingress replicas and its own event log, on each backend."""
    from serve.app import AppArgs, build_app

    backend = request.param
    event_log = new_stream_location() if backend == "jetstream" else str(rec_home / "events-durable")
    path = rec_home / f"test-durable-{backend}.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(Path(__file__).resolve().parents[2] / "configs" / "base.yaml"),
        "paths": {"home": str(rec_home), "event_log_dir": event_log,
                  "snapshot_dir": str(rec_home / f"snapshots-durable-{backend}")},
        # Snapshots every few events, so that a killed shard restarts from one (and may be killed mid-write).
        "serve": {"interest_model_alias": None, "ingress_replicas": INGRESS_REPLICAS,
                  "snapshot_every_events": SNAPSHOT_EVERY},
    }))
    config = load_config(path)
    items = lancedb.connect(config.paths.lancedb_uri).open_table(config.embed.table).to_arrow()
    serve.run(build_app(AppArgs(config=str(path))), name=APP, route_prefix=f"/{APP}")
    yield DurableApp(f"{base_url}/{APP}", config, items["item_id"].to_pylist())
    serve.delete(APP)
    if backend == "jetstream":
        delete_stream(event_log)


# -- tests -----------------------------------------------------------------


@pytest.mark.parametrize("n_events", [
    pytest.param(300, id="short"), pytest.param(2000, id="long", marks=pytest.mark.slow),
])
def test_acked_events_survive_kill_9_of_a_user_shard(app: DurableApp, tmp_path: Path, n_events: int) -> None:
    users = [f"kill-shard-{n_events}-{i}" for i in range(24)]
    clients = Clients(app.url)
    batches = make_batches(f"ks{n_events}", users, app.item_ids, n_events, threads=4, batch_size=3, seed=1)
    before = replica_pids("UserShard0")
    assert len(before) == 1, before

    run = drive_and_kill(clients, batches, lambda: kill_9(before), after_acks=n_events // 3)

    after = wait_for_replacements(run["killed"])
    assert after and not set(after.values()) & set(before.values())
    assert clients.acked == clients.sent  # every request got its 2xx in the end
    with httpx.Client(base_url=app.url, timeout=60) as http:  # a client that missed its acks resends
        for batch in [b for thread in batches for b in thread[:5]]:
            answer = http.post("/events", json=batch).json()
            assert (answer["accepted"], answer["duplicates"]) == (0, len(batch))
    logged = assert_log_holds_acked_once(app.config, clients)
    assert len(logged) == n_events
    assert any(shard_of(u, app.config.serve.user_shards) == 0 for u in users)
    resumed = serve.get_deployment_handle("UserShard0", app_name=APP).started_from.remote().result(timeout_s=60)
    assert resumed["snapshot"] is not None and resumed["events_replayed"] < SNAPSHOT_EVERY * 4, resumed
    assert_live_equals_log(app.config, users, tmp_path)
    print(f"\n{n_events} events, killed UserShard0 pid {list(before.values())} after "
          f"{run['acked_at_kill']} acks, {clients.resends} resends, new pid {list(after.values())}")


def test_concurrent_events_for_few_users_through_two_ingress_replicas(app: DurableApp, tmp_path: Path) -> None:
    """Many clients, three users, two ingress replicas: the state is the log applied in order."""
    status = serve.status().applications[APP].deployments["Ingress"]
    assert status.replica_states.get("RUNNING") == INGRESS_REPLICAS
    users = ["same-0", "same-1", "same-2"]
    clients = Clients(app.url)
    n_events = 480
    acks_before = ingress_acks()
    clients.run(make_batches("same", users, app.item_ids, n_events, threads=12, batch_size=2, seed=2))
    deadline = time.monotonic() + 10  # access logs are written a moment after the answer
    while sum(n > acks_before.get(replica, 0) for replica, n in ingress_acks().items()) < INGRESS_REPLICAS:
        assert time.monotonic() < deadline, f"not every ingress replica took events: {acks_before} -> {ingress_acks()}"
        time.sleep(0.5)
    assert clients.acked == clients.sent
    logged = assert_log_holds_acked_once(app.config, clients)
    assert len(logged) == n_events
    assert_live_equals_log(app.config, users, tmp_path)


@pytest.mark.parametrize("n_events", [
    pytest.param(300, id="short"), pytest.param(1500, id="long", marks=pytest.mark.slow),
])
def test_whole_app_recovers_from_kill_9_of_every_replica(app: DurableApp, tmp_path: Path, n_events: int) -> None:
    quiet = [f"quiet-{n_events}-{i}" for i in range(8)]  # all their events are acked before the kill
    busy = [f"busy-{n_events}-{i}" for i in range(16)]  # written to while everything is killed
    quiet_clients, busy_clients = Clients(app.url), Clients(app.url)
    quiet_clients.run(make_batches(f"quiet{n_events}", quiet, app.item_ids, 120, threads=2, batch_size=4, seed=3))
    quiet_before = live_profiles(app.config, quiet)
    stated = {"text": "horror films with monsters"}
    with httpx.Client(base_url=app.url, timeout=60) as http:  # acked before the kill, so it must survive it
        assert http.put(f"/users/{quiet[0]}/interests", json=stated).json()["text"] == stated["text"]
    before = replica_pids()
    assert len(before) == INGRESS_REPLICAS + app.config.serve.user_shards + 1, before  # + the query encoder

    batches = make_batches(f"busy{n_events}", busy, app.item_ids, n_events, threads=4, batch_size=3, seed=4)
    run = drive_and_kill(busy_clients, batches, lambda: kill_9(before), after_acks=n_events // 3)

    after = wait_for_replacements(run["killed"])
    assert not set(after.values()) & set(before.values())
    assert_same_state(live_profiles(app.config, quiet), quiet_before)  # unchanged by the restart
    for clients in (quiet_clients, busy_clients):
        assert clients.acked == clients.sent
        assert_log_holds_acked_once(app.config, clients)
    assert_live_equals_log(app.config, quiet + busy, tmp_path)
    with httpx.Client(base_url=app.url, timeout=60) as http:  # every route answers again
        assert http.get(f"/users/{busy[0]}/recommendations").json()["n_events"] > 0
        assert http.get(f"/users/{quiet[0]}/interests").json()["text"] == stated["text"]
        assert http.post("/recommendations/text", json={"text": "space adventure", "k": 3}).status_code == 200
    print(f"\n{n_events} events, killed {len(before)} replicas {sorted(before.values())} after "
          f"{run['acked_at_kill']} acks, {busy_clients.resends} resends")


def test_a_deleted_user_stays_forgotten_across_kill_9_of_their_shard(app: DurableApp, tmp_path: Path) -> None:
    """DELETE /users/{id} takes the user's events out of the log and every snapshot: the
    shard's replacement, resuming from its latest snapshot and the log, knows nothing of them."""
    n = app.config.serve.user_shards
    leaving, staying = (next(f"{name}-{i}" for i in range(1000) if shard_of(f"{name}-{i}", n) == 0)
                        for name in ("leaving", "staying"))
    clients = Clients(app.url)
    batches = make_batches("forget", [leaving, staying], app.item_ids, SNAPSHOT_EVERY * 3, threads=2,
                           batch_size=3, seed=5)
    clients.run(batches)
    theirs = next(e for thread in batches for batch in thread for e in batch if e["user_id"] == leaving)
    with httpx.Client(base_url=app.url, timeout=60) as http:
        http.put(f"/users/{leaving}/interests", json={"text": "westerns"}).raise_for_status()
        reply = http.delete(f"/users/{leaving}").json()
        assert reply["deleted_events"] > 0 and reply["deleted_stated_interest"] is True
    staying_before = live_profiles(app.config, [staying])
    assert not any(e.user_id == leaving for e in read_all_logs(app.config.paths.event_log_dir))

    wait_for_replacements(kill_9(replica_pids("UserShard0")))

    resumed = serve.get_deployment_handle("UserShard0", app_name=APP).started_from.remote().result(timeout_s=60)
    assert resumed["snapshot"] is not None, resumed  # the one written without the user
    assert live_profiles(app.config, [leaving])[leaving].n_events == 0
    assert_same_state(live_profiles(app.config, [staying]), staying_before)
    with httpx.Client(base_url=app.url, timeout=60) as http:
        assert http.get(f"/users/{leaving}/interests").json()["text"] == ""
        assert http.post("/events", json=[theirs]).json()["accepted"] == 1  # forgotten: its id is new again
    assert_live_equals_log(app.config, [leaving, staying], tmp_path)
