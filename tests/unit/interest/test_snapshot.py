"""Snapshots of a user shard (rec.interest.snapshot): a restart from one equals a rebuild from
the whole log, replays only the log after it, and a torn, stale or foreign one is not used."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from base_config import BASE, changed
from rec.interest.event_keys import EventKeys, key_hash
from rec.interest.shard import IncomingEvent, UserShard
from rec.interest.snapshot import read_snapshot
from rec.storage.event_log import shard_log_path
from jetstream_server import delete_stream, new_stream_location
from test_shard import DIM, VECTORS, VECTORS_V2, FakeLookup

CONFIG = BASE.interest
USERS = ["ann", "bob", "cem", "dee"]
ITEMS = list(VECTORS)


def _events(start: int, count: int) -> list[IncomingEvent]:
    types = ["like", "click", "view", "dislike", "purchase", "skip"]
    return [IncomingEvent(f"e{n}", USERS[n % len(USERS)], ITEMS[(n * 3) % len(ITEMS)], types[n % len(types)],
                          1000.0 + n * 17.0) for n in range(start, start + count)]


def _shard(tmp_path, every: int = 10, config=CONFIG, lookup=None, **kwargs) -> UserShard:
    return UserShard(0, 1, tmp_path / "log", DIM, config, lookup or FakeLookup(VECTORS), encoder_version="enc/1",
                     snapshot_dir=tmp_path / "snapshots", snapshot_every=every, **kwargs)


def _profiles(shard: UserShard, version: str = "enc/1") -> dict:
    return {u: dataclasses.astuple(shard.profile(u, version)) for u in USERS}


def _snapshots(tmp_path) -> list:
    return sorted((tmp_path / "snapshots").glob("*.arrow"))


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for user in a:
        for x, y in zip(a[user], b[user]):
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                np.testing.assert_allclose(x, y, atol=1e-6)
            else:
                assert x == y


@pytest.fixture
def logged(tmp_path) -> dict:
    """A shard that logged 25 events, one by one (snapshots after the 10th and the 20th)."""
    shard = _shard(tmp_path)
    for event in _events(0, 25):
        shard.apply([event], VECTORS)
    profiles = _profiles(shard)
    shard.close()
    return profiles


def test_a_restart_from_a_snapshot_replays_only_the_log_after_it(tmp_path, logged):
    assert len(_snapshots(tmp_path)) == 2  # the last two are kept
    lookup = FakeLookup(VECTORS)
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots")
    assert [e.event_id for e in resumed.resume.events] == ["e20", "e21", "e22", "e23", "e24"]
    resumed.prepare("enc/1", DIM, lookup)
    assert lookup.calls == [sorted({e.item_id for e in _events(20, 5)})]  # only the tail's items
    _assert_same(_profiles(resumed), logged)
    rebuilt = UserShard(0, 1, tmp_path / "log", DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    _assert_same(_profiles(rebuilt), logged)


def test_event_ids_logged_before_the_snapshot_are_still_refused(tmp_path, logged):
    resumed = _shard(tmp_path)
    result = resumed.apply([*_events(3, 2), *_events(24, 2)], VECTORS)  # e3, e4, e24 were logged
    assert (result.accepted, result.duplicates) == (1, 3)


def test_a_torn_or_damaged_snapshot_is_skipped_for_the_one_before(tmp_path, logged):
    newest = _snapshots(tmp_path)[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # torn
    with pytest.raises(ValueError, match="torn or damaged"):
        read_snapshot(newest)
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots")
    assert [e.event_id for e in resumed.resume.events] == [f"e{n}" for n in range(10, 25)]  # the one before
    resumed.prepare("enc/1", DIM, FakeLookup(VECTORS))
    _assert_same(_profiles(resumed), logged)
    newest.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])  # one bit pattern flipped
    with pytest.raises(ValueError):
        read_snapshot(newest)


def test_a_snapshot_of_another_interest_config_is_not_used(tmp_path, logged):
    other = changed(CONFIG, half_life_events=CONFIG.half_life_events + 1)
    resumed = UserShard(0, 1, tmp_path / "log", config=other, snapshot_dir=tmp_path / "snapshots")
    assert resumed.resume.from_empty and len(resumed.resume.events) == 25


def test_a_log_rewritten_after_the_snapshot_means_a_full_rebuild(tmp_path, logged):
    path = shard_log_path(tmp_path / "log", 0)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[1:]))  # as a deletion would, had the shard died before its next snapshot
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots")
    assert resumed.resume.from_empty and len(resumed.resume.events) == 24


def test_a_deletion_is_snapshotted_at_once_and_stays_deleted(tmp_path, logged):
    shard = _shard(tmp_path, every=0)
    assert shard.delete_user("bob").events > 0
    shard.close()
    assert len(_snapshots(tmp_path)) == 1  # the older ones held bob
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots")
    assert not resumed.resume.from_empty and resumed.resume.events == []
    resumed.prepare("enc/1", DIM, FakeLookup(VECTORS))
    assert resumed.profile("bob").n_events == 0 and "bob" not in resumed.states
    assert resumed.apply([_events(1, 1)[0]], VECTORS).accepted == 1  # e1 was bob's: new again once forgotten
    _assert_same({u: p for u, p in _profiles(resumed).items() if u != "bob"},
                 {u: p for u, p in logged.items() if u != "bob"})


def test_every_space_held_is_snapshotted(tmp_path):
    shard = _shard(tmp_path, every=4)
    shard.prepare("enc/2", DIM, FakeLookup(VECTORS_V2))
    for event in _events(0, 8):
        shard.apply([event], VECTORS_V2, "enc/2")
    both = {tag: _profiles(shard, tag) for tag in ("enc/1", "enc/2")}
    shard.close()
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots")
    assert set(resumed.resume.states) == {"enc/1", "enc/2"} and resumed.resume.events == []
    resumed.prepare("enc/2", DIM, FakeLookup(VECTORS_V2))
    _assert_same(_profiles(resumed, "enc/2"), both["enc/2"])


def test_snapshots_are_written_durably_beside_their_name(tmp_path, logged):
    assert not list((tmp_path / "snapshots").glob("*.partial"))
    snapshot = read_snapshot(_snapshots(tmp_path)[-1])
    assert snapshot.position.offset == os.path.getsize(shard_log_path(tmp_path / "log", 0)) - _tail_bytes(tmp_path)


def _tail_bytes(tmp_path) -> int:
    """Bytes of the 5 lines logged after the last snapshot."""
    return sum(len(line) for line in shard_log_path(tmp_path / "log", 0).read_bytes().splitlines(keepends=True)[20:])


def test_event_keys_by_hash():
    keys = EventKeys.of([("ann", "e1"), ("bob", "e1")])
    keys.add("ann", "e2")
    assert key_hash("ann", "e1") in keys and key_hash("ann", "e2") in keys and key_hash("cem", "e1") not in keys
    keys.remove_user("ann")
    assert key_hash("ann", "e1") not in keys and key_hash("ann", "e2") not in keys and key_hash("bob", "e1") in keys
    keys.add("cem", "e9")
    sorted_keys, users = keys.compact()
    assert len(keys) == 2 and list(sorted_keys) == sorted(sorted_keys) and keys.added == {}
    assert key_hash("cem", "e9") in keys


def test_a_deletion_before_any_space_is_held_removes_every_snapshot(tmp_path, logged):
    shard = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=tmp_path / "snapshots", snapshot_every=10)
    assert shard.delete_user("bob").events > 0
    assert _snapshots(tmp_path) == []  # they held bob; the next start rebuilds from the log


@pytest.fixture
def stream():
    location = new_stream_location()
    yield location
    delete_stream(location)


@pytest.mark.jetstream
def test_on_jetstream_a_shard_resumes_after_its_snapshot_and_a_deletion_stays_deleted(tmp_path, stream):
    def on_stream(**kwargs) -> UserShard:
        return UserShard(0, 1, stream, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1",
                         snapshot_dir=tmp_path / "snapshots", snapshot_every=10, **kwargs)

    shard = on_stream()
    for event in _events(0, 25):
        shard.apply([event], VECTORS)
    assert shard.apply(_events(0, 2), VECTORS).duplicates == 2
    logged = _profiles(shard)
    shard.close()
    resumed = on_stream()
    assert resumed.started_from == {"snapshot": 2, "events_replayed": 5}
    _assert_same(_profiles(resumed), logged)

    def crash(*args, **kwargs):
        raise OSError("killed before the snapshot without bob was written")

    resumed.snapshots.write = crash
    with pytest.raises(OSError):
        resumed.delete_user("bob")
    after_crash = on_stream()  # no snapshot that holds bob is left: a rebuild from the stream, without him
    assert after_crash.started_from["snapshot"] is None
    assert after_crash.profile("bob").n_events == 0
    _assert_same({u: p for u, p in _profiles(after_crash).items() if u != "bob"},
                 {u: p for u, p in logged.items() if u != "bob"})
    assert after_crash.delete_user("bob").events == 0  # the retried DELETE finds nothing left


@pytest.mark.objectstore
def test_snapshots_on_object_storage_resume_a_shard_the_same_way(tmp_path, object_store):
    """paths.snapshot_dir as s3://...: a shard on another node finds its snapshots there."""
    bucket = object_store.new_bucket()
    location = f"s3://{bucket}/snapshots"
    shard = UserShard(0, 1, tmp_path / "log", DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1",
                      snapshot_dir=location, snapshot_every=10)
    for event in _events(0, 25):
        shard.apply([event], VECTORS)
    live = _profiles(shard)
    shard.close()
    assert object_store.keys(bucket) == [f"snapshots/snapshot-shard-0000-{n:012d}.arrow" for n in (1, 2)]
    resumed = UserShard(0, 1, tmp_path / "log", config=CONFIG, snapshot_dir=location)
    assert [e.event_id for e in resumed.resume.events] == ["e20", "e21", "e22", "e23", "e24"]
    resumed.prepare("enc/1", DIM, FakeLookup(VECTORS))
    _assert_same(_profiles(resumed), live)
