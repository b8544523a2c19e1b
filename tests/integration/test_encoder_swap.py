"""Invariant 1 during an encoder change, over real HTTP on a real local Ray cluster.

A second encoder version, genuinely different (the MiniLM weights plus seeded
noise), is registered and made champion by the embed job
(`encoder.source_dir`); then, while client threads post events and ask for
recommendations, POST /admin/reload puts it live. Every answer must be 2xx and
from one vector space: its user state from the same encoder version as its
item vectors (`user_state_version == encoder_version`), the items table
version that encoder's; each client sees the old version, then the new one,
never back; afterwards the live user states equal those rebuilt from the log
with the new vectors.

The app under test is its own (`swap`, under /swap, with its own encoder name,
items table and event log), so moving its champion leaves the other tests'
app and stores alone. Its first encoder version is the shipped MiniLM again,
and its items table the session's embedding (the same job, weights and
texts) relabelled with that version: the job itself runs for the new one.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import lancedb
import numpy as np
import pyarrow as pa
import pytest
import yaml
from ray import serve

from rec.config import RecConfig, load_config
from rec.encoding.encoder import TextEncoder, default_model_dir
from rec.registry.encoders import (
    EncoderVersion,
    connect,
    publish_items_version,
    register_encoder,
    resolve_encoder,
)
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.pipeline import build_pipeline
from rec.ranking.strategies import RankRequest
from rec.storage.items_table import ItemStore
from rec.interest.profile import UserProfile
from rec.interest.shard import UserShard, shard_of

pytestmark = pytest.mark.ray

APP = "swap"
USERS = [f"swap-user-{i}" for i in range(24)]
CLIENT_THREADS = 4
STATED_USER, STATED = "stated-swap", "a creature feature on a stormy night"
LOAD_BEFORE_S, LOAD_AFTER_S = 4.0, 5.0  # client load before the reload and after it returned
MAX_REQUESTS_PER_THREAD = 1500
NOISE_SCALE, NOISE_SEED = 0.2, 0  # item vectors: mean cosine ~0.8 to the original's


@dataclass
class SwapApp:
    url: str
    config: RecConfig
    config_path: Path
    item_ids: list[str]
    old: EncoderVersion  # live when the app started


def perturbed_encoder(source: Path, target: Path, scale: float, seed: int) -> Path:
    """A copy of a Hugging Face encoder folder whose float weights carry seeded Gaussian noise
    (`scale` x each tensor's std): another encoder, in another vector space."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors"))
    generator = torch.Generator().manual_seed(seed)
    noisy = {}
    for name, tensor in sorted(load_file(source / "model.safetensors").items()):
        if tensor.is_floating_point() and tensor.numel() > 1:
            noise = torch.randn(tensor.shape, generator=generator) * float(tensor.float().std()) * scale
            tensor = (tensor.float() + noise).to(tensor.dtype)
        noisy[name] = tensor
    save_file(noisy, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def first_version(config: RecConfig, session_config: RecConfig, session_table_version: int) -> EncoderVersion:
    """Register the shipped MiniLM as the first version of the swap encoder (champion), with
    the session's items table (made by the embed job with these weights) copied as its table."""
    version = register_encoder(default_model_dir(), config.encoder, config.paths, alias=config.encoder.alias)
    encoder = EncoderVersion(config.encoder.registered_name, version, "")
    db = lancedb.connect(config.paths.lancedb_uri)
    source = db.open_table(session_config.embed.table)
    source.checkout(session_table_version)
    rows = source.to_arrow()
    column = rows.schema.get_field_index("encoder_version")
    rows = rows.set_column(column, rows.schema.field(column), pa.array([encoder.tag] * rows.num_rows, pa.string()))
    table = db.create_table(config.embed.table, data=rows, mode="overwrite")
    publish_items_version(encoder, config.embed.table, int(table.version), config.paths)
    return resolve_encoder(config.encoder, config.paths)


@pytest.fixture(scope="module")
def app(base_url: str, rec_home: Path, config: RecConfig, embed_summary: dict) -> Iterator[SwapApp]:
    """A fresh encoder name with its items table, and an app serving it under /swap."""
    from serve.app import AppArgs, build_app

    path = rec_home / "test-swap.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(Path(__file__).resolve().parents[2] / "configs" / "base.yaml"),
        "paths": {"home": str(rec_home), "event_log_dir": str(rec_home / "events-swap")},
        "encoder": {"registered_name": "text-encoder-swap"},
        # Small: the job runs beside two apps (2.5 of the cluster's 4 CPUs), and its read task needs 1.
        "embed": {"table": "items_swap", "actors": 1, "num_cpus_per_actor": 0.25, "batch_size": 64},
        "serve": {"interest_model_alias": None, "reload_interval_s": 0},
    }))
    swap_config = load_config(path)
    old = first_version(swap_config, config, embed_summary["table_version"])
    items = ItemStore(swap_config.paths.lancedb_uri, old.items_table, old.items_table_version).table.to_arrow()
    serve.run(build_app(AppArgs(config=str(path))), name=APP, route_prefix=f"/{APP}")
    yield SwapApp(f"{base_url}/{APP}", swap_config, path, items["item_id"].to_pylist(), old)
    serve.delete(APP)


# -- the load --------------------------------------------------------------


@dataclass
class Answer:
    thread: int
    kind: str  # "events", "user" or "text"
    started: float
    ended: float
    status: int
    body: dict


@dataclass
class Load:
    """Client threads: each owns some users, posts an event for one and asks for its recommendations."""

    url: str
    item_ids: list[str]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[str] = field(default_factory=list)

    def _record(self, thread: int, kind: str, started: float, reply: httpx.Response) -> None:
        answer = Answer(thread, kind, started, time.monotonic(), reply.status_code,
                        reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {})
        with self.lock:
            self.answers.append(answer)

    def _worker(self, thread: int) -> None:
        rng = random.Random(thread)
        mine = USERS[thread::CLIENT_THREADS]
        with httpx.Client(base_url=self.url, timeout=60) as http:
            for n in range(MAX_REQUESTS_PER_THREAD):
                if self.stop.is_set():
                    return
                user = rng.choice(mine)
                event = {"user_id": user, "item_id": rng.choice(self.item_ids),
                         "type": rng.choice(["like", "click", "view", "skip"]), "event_id": f"load-{thread}-{n}"}
                started = time.monotonic()
                self._record(thread, "events", started, http.post("/events", json=event))
                started = time.monotonic()
                self._record(thread, "user", started, http.get(f"/users/{user}/recommendations", params={"k": 10}))
                if n % 5 == 0:
                    started = time.monotonic()
                    reply = http.post("/recommendations/text", json={"text": "a scary film at night", "k": 5})
                    self._record(thread, "text", started, reply)

    def run(self, during: Callable[[], object]) -> object:
        """Run the clients, call `during()` while they go on, stop them; returns its result."""
        threads = [threading.Thread(target=self._guarded, args=(t,), daemon=True) for t in range(CLIENT_THREADS)]
        for t in threads:
            t.start()
        try:
            return during()
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=120)

    def _guarded(self, thread: int) -> None:
        try:
            self._worker(thread)
        except Exception as exc:  # noqa: BLE001 (a transport error is an error the test reports)
            with self.lock:
                self.errors.append(f"thread {thread}: {exc!r}")


# -- checks ----------------------------------------------------------------


def live_profiles(config: RecConfig, live: EncoderVersion, users: list[str]) -> dict[str, UserProfile]:
    """The users' states in `live`'s space, as the shard replicas hold them."""
    n = config.serve.user_shards
    handles = [serve.get_deployment_handle(f"UserShard{i}", app_name=APP) for i in range(n)]
    return {u: handles[shard_of(u, n)].profile.remote(u, live).result(timeout_s=60) for u in users}


def rebuilt_profiles(config: RecConfig, live: EncoderVersion, users: list[str], scratch: Path) -> dict[str, UserProfile]:
    """The users' states rebuilt from (a copy of) the event log with `live`'s item vectors."""
    copy = scratch / f"log-{live.version}"
    shutil.copytree(config.paths.event_log_dir, copy)
    store = ItemStore(config.paths.lancedb_uri, live.items_table, live.items_table_version)
    n = config.serve.user_shards
    shards = [
        UserShard(i, n, copy, store.dim, config.interest, store.vectors, config.history_length, live.tag)
        for i in range(n)
    ]
    for shard in shards:
        shard.close()
    return {u: shards[shard_of(u, n)].profile(u, live.tag) for u in users}


def assert_same_states(actual: dict[str, UserProfile], expected: dict[str, UserProfile]) -> None:
    for user, want in expected.items():
        got = actual[user]
        assert got.encoder_version == want.encoder_version, user
        assert (got.n_events, got.seen_items, got.recent_items) == (want.n_events, want.seen_items, want.recent_items)
        assert (got.interest is None) == (want.interest is None), user
        if want.interest is not None:
            np.testing.assert_allclose(got.interest, want.interest, atol=1e-6, err_msg=user)


def ranked_as_text(http: httpx.Client) -> dict:
    """The stated user's recommendations, checked equal to POST /recommendations/text of their words."""
    user = http.get(f"/users/{STATED_USER}/recommendations", params={"k": 10}).json()
    text = http.post("/recommendations/text", json={"text": STATED, "k": 10}).json()
    assert user["strategy"] == "interest" and user["encoder_version"] == text["encoder_version"]
    assert [i["item_id"] for i in user["items"]] == [i["item_id"] for i in text["items"]]
    return user


def reload(http: httpx.Client) -> dict:
    reply = http.post("/admin/reload")
    assert reply.status_code == 200, reply.text
    return reply.json()


# -- tests -----------------------------------------------------------------


def test_encoder_swap_under_load_never_mixes_vector_spaces(app: SwapApp, rec_home: Path, tmp_path: Path) -> None:
    from jobs.embed_catalog import embed_catalog

    http = httpx.Client(base_url=app.url, timeout=60)
    seed = [{"user_id": u, "item_id": random.Random(i).choice(app.item_ids), "type": "like", "event_id": f"seed-{i}"}
            for i, u in enumerate(USERS * 3)]
    assert http.post("/events", json=seed).status_code == 200
    # The nightly job with new weights: a new encoder version, its own items table version, champion at the end.
    weights = perturbed_encoder(default_model_dir(), rec_home / "minilm-noisy", NOISE_SCALE, NOISE_SEED)
    new_config = app.config.model_copy(update={"encoder": app.config.encoder.model_copy(update={"source_dir": str(weights)})})
    summary = embed_catalog(new_config)
    new = resolve_encoder(app.config.encoder, app.config.paths)
    old = app.old
    assert summary["encoder"] == new.tag != old.tag and new.items_table_version != old.items_table_version
    table_of = {old.tag: old.items_table_version, new.tag: new.items_table_version}
    old_vectors = ItemStore(app.config.paths.lancedb_uri, old.items_table, old.items_table_version).vectors(app.item_ids)
    new_vectors = ItemStore(app.config.paths.lancedb_uri, new.items_table, new.items_table_version).vectors(app.item_ids)
    cosines = [float(old_vectors[i] @ new_vectors[i]) for i in app.item_ids]
    assert np.mean(cosines) < 0.95, "the second encoder should be another vector space"
    assert http.get("/version").json()["encoder_version"] == old.tag  # the alias moved; serve swaps on reload

    # A stated interest is text; each version's encoder embeds it: a user with nothing else
    # is ranked as the free-text route ranks the same words, before the swap and after it.
    assert http.put(f"/users/{STATED_USER}/interests", json={"text": STATED}).status_code == 200
    stated_before = ranked_as_text(http)
    assert stated_before["encoder_version"] == old.tag

    load = Load(app.url, app.item_ids)

    def swap_while_loaded() -> tuple[float, float, dict]:
        time.sleep(LOAD_BEFORE_S)
        began = time.monotonic()
        result = reload(http)
        returned = time.monotonic()
        time.sleep(LOAD_AFTER_S)
        return began, returned, result

    began, returned, result = load.run(swap_while_loaded)

    assert result["changed"] and result["previous"]["encoder_version"] == old.tag
    assert result["live"]["encoder_version"] == new.tag
    assert result["live"]["items_table_version"] == new.items_table_version
    answers = load.answers
    assert not load.errors, load.errors
    failed = [(a.kind, a.status, a.body) for a in answers if not 200 <= a.status < 300]
    assert not failed, f"{len(failed)} of {len(answers)} answers failed: {failed[:3]}"
    recs = [a for a in answers if a.kind in ("user", "text")]
    mixed = [
        a.body for a in recs
        if (a.kind == "user" and a.body["user_state_version"] != a.body["encoder_version"])
        or a.body["items_table_version"] != table_of.get(a.body["encoder_version"])
    ]
    assert not mixed, f"{len(mixed)} answers mixed versions: {mixed[:2]}"
    for thread in range(CLIENT_THREADS):  # old, then new, never back
        seen = [a.body["encoder_version"] for a in sorted(recs, key=lambda a: a.started) if a.thread == thread]
        assert seen == sorted(seen, key=[old.tag, new.tag].index), f"thread {thread} went back"
    before = [a for a in recs if a.ended < began]
    after = [a for a in recs if a.started > returned]
    assert before and after, "the load should span the swap"
    assert {a.body["encoder_version"] for a in before} == {old.tag}
    assert {a.body["encoder_version"] for a in after} == {new.tag}
    stated_after = ranked_as_text(http)
    assert stated_after["encoder_version"] == stated_after["user_state_version"] == new.tag
    during = [a for a in recs if a.ended >= began and a.started <= returned]
    print(f"\n{len(answers)} answers ({len(recs)} recommendations, {len(before)} before the reload, "
          f"{len(during)} during its {result['duration_s']:.2f}s, {len(after)} after), "
          f"0 errors, 0 mixed; item vectors old vs new: mean cosine {np.mean(cosines):.3f}")

    # The live states are the log replayed with each version's item vectors.
    assert_same_states(live_profiles(app.config, new, USERS), rebuilt_profiles(app.config, new, USERS, tmp_path))
    assert_same_states(live_profiles(app.config, old, USERS), rebuilt_profiles(app.config, old, USERS, tmp_path))
    # ... and the answers score those states against the new items table, and the text with the new encoder.
    store = ItemStore(app.config.paths.lancedb_uri, new.items_table, new.items_table_version)
    # the fallback's ranking (cosine candidates re-ranked by popularity when configured), over the new table
    pipeline = build_pipeline(app.config.interest, Candidates(store, InMemoryItems(store.dim)), [])
    for user, profile in live_profiles(app.config, new, USERS[:6]).items():
        answer = http.get(f"/users/{user}/recommendations", params={"k": 10}).json()
        if profile.interest is not None:
            expected = pipeline.recommend(profile, RankRequest(10)).items
            assert [i["item_id"] for i in answer["items"]] == [i.item_id for i in expected]
    text = http.post("/recommendations/text", json={"text": "a scary film at night", "k": 5}).json()
    query = TextEncoder(new.model_dir, app.config.encoder).encode(["a scary film at night"])[0]
    assert [i["item_id"] for i in text["items"]] == [i.item_id for i in store.search(query, 5)]
    http.close()


def test_failed_embed_run_then_reload_changes_nothing(app: SwapApp, rec_home: Path) -> None:
    from jobs.embed_catalog import embed_catalog

    http = httpx.Client(base_url=app.url, timeout=60)
    before_version = http.get("/version").json()
    before = resolve_encoder(app.config.encoder, app.config.paths)
    # Weights never registered (the shipped MiniLM, from another folder): the run registers
    # them as a new version, then fails half way through the catalogue.
    weights = rec_home / "minilm-linked"
    if not weights.exists():
        shutil.copytree(default_model_dir(), weights, copy_function=os.link)
    failing = app.config.model_copy(update={
        "encoder": app.config.encoder.model_copy(update={"source_dir": str(weights)}),
        "embed": app.config.embed.model_copy(update={"fail_after_rows": 64}),
    })
    with pytest.raises(Exception, match="injected failure"):
        embed_catalog(failing)
    assert dataclasses.astuple(resolve_encoder(app.config.encoder, app.config.paths)) == dataclasses.astuple(before)
    result = reload(http)
    assert not result["changed"] and result["live"] == before_version == http.get("/version").json()
    answer = http.get(f"/users/{USERS[0]}/recommendations").json()
    assert answer["encoder_version"] == answer["user_state_version"] == before.tag

    # The alias moved by hand to the version that run registered (no items table): refused, nothing changes.
    client, name = connect(app.config.paths), app.config.encoder.registered_name
    orphan = max(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    client.set_registered_model_alias(name, "champion", str(orphan))
    try:
        reply = http.post("/admin/reload")
        assert reply.status_code == 409 and "no items table" in reply.json()["detail"], reply.text
        assert http.get("/version").json() == before_version
    finally:
        client.set_registered_model_alias(name, "champion", before.version)
    http.close()


def test_rollback_is_a_swap_too(app: SwapApp) -> None:
    """Moving the alias back to an earlier version and reloading puts it live the same way."""
    http = httpx.Client(base_url=app.url, timeout=60)
    client = connect(app.config.paths)
    name = app.config.encoder.registered_name
    current = resolve_encoder(app.config.encoder, app.config.paths)
    try:
        client.set_registered_model_alias(name, "champion", app.old.version)
        result = reload(http)
        assert result["live"]["encoder_version"] == app.old.tag
        assert result["changed"] == (current.tag != app.old.tag)
        answer = http.get(f"/users/{USERS[1]}/recommendations").json()
        assert answer["encoder_version"] == answer["user_state_version"] == app.old.tag
        assert answer["items_table_version"] == app.old.items_table_version
    finally:
        client.set_registered_model_alias(name, "champion", current.version)
        reload(http)
        http.close()

