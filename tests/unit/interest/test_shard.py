"""Tests for rec.interest.shard: sharding, idempotent apply, rebuild from the log."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from base_config import BASE
from rec.storage.event_log import read_log, shard_log_path
from rec.interest.shard import IncomingEvent, UserShard, shard_of

DIM = 4
CONFIG = BASE.interest
_rng = np.random.default_rng(7)
VECTORS = {f"m{i}": v / np.linalg.norm(v) for i, v in enumerate(_rng.normal(size=(8, DIM)).astype(np.float32))}


class FakeLookup:
    """Item vectors from a dict, recording what was asked for."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def __call__(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        self.calls.append(list(item_ids))
        return {i: self.vectors[i] for i in item_ids if i in self.vectors}


def _users_of(shard: int, n_shards: int, count: int) -> list[str]:
    users = [f"user{i}" for i in range(1000) if shard_of(f"user{i}", n_shards) == shard]
    return users[:count]


def _ev(event_id: str, user: str, item: str, type_: str = "like", ts: float = 1000.0) -> IncomingEvent:
    return IncomingEvent(event_id, user, item, type_, ts)


@pytest.fixture
def shard_factory(tmp_path):
    opened: list[UserShard] = []

    def make(shard: int = 0, n_shards: int = 2, lookup=None) -> UserShard:
        s = UserShard(shard, n_shards, tmp_path / "log", DIM, CONFIG, lookup or FakeLookup(VECTORS))
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def test_shard_of_stable_and_in_range():
    for n in (1, 2, 3, 16):
        for i in range(200):
            user = f"user-{i}"
            assert 0 <= shard_of(user, n) < n
            assert shard_of(user, n) == shard_of(user, n)
    assert {shard_of(f"user-{i}", 4) for i in range(200)} == {0, 1, 2, 3}  # spreads


def test_shard_of_known_values():
    # crc32, not hash(): the same in every process, whatever PYTHONHASHSEED is.
    assert shard_of("alice", 5) == zlib.crc32(b"alice") % 5
    assert shard_of("u1", 1) == 0


def test_apply_and_profile(shard_factory):
    user = _users_of(0, 2, 1)[0]
    shard = shard_factory()
    result = shard.apply([_ev("e1", user, "m1"), _ev("e2", user, "m2", "click", 1001.0)], VECTORS)
    assert (result.accepted, result.duplicates) == (2, 0)
    profile = shard.profile(user)
    assert profile.n_events == 2
    assert profile.seen_items == frozenset({"m1", "m2"})
    assert profile.recent_items == ("m1", "m2")
    assert profile.interest.dtype == np.float32
    assert np.linalg.norm(profile.interest) == pytest.approx(1.0, abs=1e-6)


def test_unknown_user_profile_is_empty(shard_factory):
    profile = shard_factory().profile("nobody")
    assert profile.interest is None
    assert profile.seen_items == frozenset()
    assert profile.recent_items == ()
    assert profile.n_events == 0


def test_apply_dedupes_within_a_batch(shard_factory):
    user = _users_of(0, 2, 1)[0]
    shard = shard_factory()
    result = shard.apply([_ev("e1", user, "m1"), _ev("e1", user, "m1"), _ev("e2", user, "m2")], VECTORS)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert shard.profile(user).n_events == 2
    assert shard.writer.path == shard_log_path(shard.writer.path.parent, 0)
    assert len(list(read_log(shard.writer.path))) == 2


def test_apply_dedupes_across_batches(shard_factory):
    user = _users_of(0, 2, 1)[0]
    shard = shard_factory()
    batch = [_ev("e1", user, "m1"), _ev("e2", user, "m2")]
    shard.apply(batch, VECTORS)
    state_before = shard.states[user].accumulator.copy()
    result = shard.apply(batch, VECTORS)  # a client resends a batch whose ack it lost
    assert (result.accepted, result.duplicates) == (0, 2)
    np.testing.assert_array_equal(shard.states[user].accumulator, state_before)
    assert shard.profile(user).n_events == 2
    assert len(list(read_log(shard.writer.path))) == 2  # nothing logged twice


def test_apply_requests_logs_several_requests_with_one_append_and_answers_each(shard_factory):
    user, other = _users_of(0, 2, 2)
    shard = shard_factory()
    appends = []
    append = shard.writer.append
    shard.writer.append = lambda events: (appends.append(len(events)), append(events))
    results = shard.apply_requests(
        [[_ev("e1", user, "m1"), _ev("e2", user, "m2")], [_ev("e2", user, "m2"), _ev("e3", other, "m3")], []],
        VECTORS,
    )
    assert [(r.accepted, r.duplicates) for r in results] == [(2, 0), (1, 1), (0, 0)]
    assert appends == [3]  # one fsync for the three requests (group commit)
    assert [e.event_id for e in read_log(shard.writer.path)] == ["e1", "e2", "e3"]
    assert (shard.profile(user).n_events, shard.profile(other).n_events) == (2, 1)


def test_same_event_id_for_two_users_is_not_a_duplicate(shard_factory):
    u1, u2 = _users_of(0, 2, 2)
    shard = shard_factory()
    result = shard.apply([_ev("e1", u1, "m1"), _ev("e1", u2, "m1")], VECTORS)
    assert (result.accepted, result.duplicates) == (2, 0)


def test_event_for_item_without_vector_is_logged_not_applied(shard_factory):
    user = _users_of(0, 2, 1)[0]
    shard = shard_factory()
    result = shard.apply([_ev("e1", user, "gone")], VECTORS)
    assert result.accepted == 1
    assert shard.profile(user).n_events == 0
    assert len(list(read_log(shard.writer.path))) == 1
    assert shard.apply([_ev("e1", user, "gone")], VECTORS).duplicates == 1


def test_rebuild_restores_state(shard_factory):
    users = _users_of(0, 2, 3)
    shard = shard_factory()
    shard.apply([_ev("e1", users[0], "m1"), _ev("e2", users[1], "m2", "view", 1000.5)], VECTORS)
    shard.apply(
        [_ev("e3", users[0], "m3", "dislike", 1005.0), _ev("e4", users[0], "m4", "purchase", 990.0),
         _ev("e5", users[2], "m5", "skip", 2000.0), _ev("e6", users[1], "m6", "add_to_cart", 90_000.0)],
        VECTORS,
    )
    before = {u: shard.profile(u) for u in users}
    states_before = {u: shard.states[u] for u in users}
    shard.close()

    lookup = FakeLookup(VECTORS)
    rebuilt = shard_factory(lookup=lookup)
    assert lookup.calls == [["m1", "m2", "m3", "m4", "m5", "m6"]]  # one lookup, sorted ids
    assert set(rebuilt.states) == set(users)
    for user in users:
        after = rebuilt.profile(user)
        assert after.seen_items == before[user].seen_items
        assert after.recent_items == before[user].recent_items
        assert after.n_events == before[user].n_events
        assert np.allclose(rebuilt.states[user].accumulator, states_before[user].accumulator)
        assert rebuilt.states[user].last_timestamp == states_before[user].last_timestamp
        if before[user].interest is None:
            assert after.interest is None
        else:
            assert np.allclose(after.interest, before[user].interest)
    assert rebuilt.profile(users[2]).interest is None  # only a skip


def test_rebuild_remembers_event_ids(shard_factory):
    user = _users_of(0, 2, 1)[0]
    shard = shard_factory()
    shard.apply([_ev("e1", user, "m1")], VECTORS)
    shard.close()
    rebuilt = shard_factory()
    result = rebuilt.apply([_ev("e1", user, "m1"), _ev("e2", user, "m2")], VECTORS)
    assert (result.accepted, result.duplicates) == (1, 1)
    assert rebuilt.profile(user).n_events == 2


def test_rebuild_loads_only_own_shard_users(shard_factory):
    mine = _users_of(0, 2, 2)
    theirs = _users_of(1, 2, 2)
    s0 = shard_factory(0)
    s1 = shard_factory(1)
    s0.apply([_ev("e1", mine[0], "m1"), _ev("e2", mine[1], "m2")], VECTORS)
    s1.apply([_ev("e3", theirs[0], "m3"), _ev("e4", theirs[1], "m4")], VECTORS)
    s0.close()
    s1.close()

    lookup = FakeLookup(VECTORS)
    rebuilt = shard_factory(0, lookup=lookup)
    assert set(rebuilt.states) == set(mine)
    assert lookup.calls == [["m1", "m2"]]  # items of the other shard's events are not even looked up
    assert rebuilt.profile(theirs[0]).n_events == 0
    assert set(shard_factory(1).states) == set(theirs)


def test_empty_log_dir_does_no_lookup(shard_factory):
    lookup = FakeLookup(VECTORS)
    shard = shard_factory(lookup=lookup)
    assert lookup.calls == []
    assert shard.states == {}


def test_delete_user_removes_state_events_and_survives_rebuild(tmp_path):
    lookup = FakeLookup(VECTORS)
    gone, kept = _users_of(0, 1, 2)
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, lookup)
    shard.apply([_ev("a", gone, "m0"), _ev("b", kept, "m1"), _ev("c", gone, "m2")], VECTORS)
    assert shard.delete_user(gone).events == 2
    assert shard.profile(gone).n_events == 0
    assert [e.user_id for e in read_log(shard_log_path(tmp_path, 0))] == [kept]
    # the same event id is new again for a forgotten user, and appends still work
    assert shard.apply([_ev("a", gone, "m3")], VECTORS).accepted == 1
    shard.close()
    rebuilt = UserShard(0, 1, tmp_path, DIM, CONFIG, lookup)
    assert rebuilt.profile(gone).recent_items == ("m3",)
    assert rebuilt.profile(kept).n_events == 1


# -- several vector spaces (an encoder swap) ---------------------------------

_rng2 = np.random.default_rng(11)
VECTORS_V2 = {i: v / np.linalg.norm(v) for i, v in zip(VECTORS, _rng2.normal(size=(8, DIM)).astype(np.float32))}


def _rebuilt(log_dir, user: str, vectors: dict[str, np.ndarray]):
    """The user's profile rebuilt from the log alone with `vectors`."""
    shard = UserShard(0, 1, log_dir, DIM, CONFIG, FakeLookup(vectors), encoder_version="x")
    shard.close()
    return shard.profile(user)


def test_prepare_rebuilds_another_space_and_apply_feeds_both(tmp_path):
    user = "u"
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.apply([_ev("e1", user, "m1"), _ev("e2", user, "m2", "dislike", 1001.0)], VECTORS, "enc/1")
    v2_lookup = FakeLookup(VECTORS_V2)
    shard.prepare("enc/2", DIM, v2_lookup)
    assert v2_lookup.calls == [["m1", "m2"]]
    # new events arrive with the vectors of the version the caller serves (here the old one)
    shard.apply([_ev("e3", user, "m3", "purchase", 1002.0)], VECTORS, "enc/1")
    assert v2_lookup.calls[-1] == ["m3"]  # the other space looks its vectors up
    shard.close()

    for tag, vectors in (("enc/1", VECTORS), ("enc/2", VECTORS_V2)):
        live, expected = shard.profile(user, tag), _rebuilt(tmp_path, user, vectors)
        assert live.encoder_version == tag
        assert live.n_events == expected.n_events == 3
        np.testing.assert_allclose(live.interest, expected.interest, atol=1e-6)
    assert not np.allclose(shard.profile(user, "enc/1").interest, shard.profile(user, "enc/2").interest)
    assert len(list(read_log(shard_log_path(tmp_path, 0)))) == 3  # logged once, whatever the spaces


def test_at_most_max_versions_spaces_least_recently_used_dropped(tmp_path):
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.prepare("enc/2", DIM, FakeLookup(VECTORS_V2))
    shard.profile("u", "enc/1")  # enc/1 used more recently than enc/2
    shard.prepare("enc/3", DIM, FakeLookup(VECTORS))
    assert list(shard.spaces) == ["enc/1", "enc/3"]
    with pytest.raises(KeyError, match="enc/2"):
        shard.profile("u", "enc/2")
    assert shard.profile("u").encoder_version == "enc/3"  # None = the most recently used
    shard.close()


def test_preparing_a_held_space_keeps_its_states(tmp_path):
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.apply([_ev("e1", "u", "m1")], VECTORS, "enc/1")
    lookup = FakeLookup(VECTORS)
    shard.prepare("enc/1", DIM, lookup)  # e.g. a newer items table of the same encoder
    assert lookup.calls == [] and shard.profile("u", "enc/1").n_events == 1
    shard.close()


def test_failed_lookup_of_another_space_logs_nothing(tmp_path):
    def broken(item_ids):
        raise OSError("table unreachable")

    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.prepare("enc/2", DIM, broken, events=[])
    with pytest.raises(OSError):
        shard.apply([_ev("e1", "u", "m1")], VECTORS, "enc/1")
    assert list(read_log(shard_log_path(tmp_path, 0))) == []
    assert shard.profile("u", "enc/1").n_events == 0
    shard.close()


def test_shard_without_a_space_logs_and_rebuilds_on_prepare(tmp_path):
    shard = UserShard(0, 1, tmp_path, config=CONFIG)
    shard.apply([_ev("e1", "u", "m1")], VECTORS)
    assert shard.profile("u").n_events == 0 and shard.profile("u").encoder_version == ""
    shard.prepare("enc/1", DIM, FakeLookup(VECTORS))
    assert shard.profile("u", "enc/1").n_events == 1
    assert shard.apply([_ev("e1", "u", "m1")], VECTORS, "enc/1").duplicates == 1
    shard.close()


def test_delete_user_leaves_every_space(tmp_path):
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.prepare("enc/2", DIM, FakeLookup(VECTORS_V2))
    shard.apply([_ev("e1", "u", "m1")], VECTORS, "enc/1")
    assert shard.delete_user("u").events == 1
    assert shard.profile("u", "enc/1").n_events == shard.profile("u", "enc/2").n_events == 0
    shard.close()


def test_a_stated_interest_is_durable_replaced_cleared_and_shared_by_every_space(tmp_path):
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS), encoder_version="enc/1")
    shard.prepare("enc/2", DIM, FakeLookup(VECTORS_V2))
    shard.state_interest("u", "horror films with monsters")
    shard.state_interest("v", "old musicals")
    shard.state_interest("v", "space adventures")  # the latest wins
    shard.state_interest("w", "westerns")
    shard.state_interest("w", "")  # cleared
    assert shard.profile("u", "enc/1").stated_text == shard.profile("u", "enc/2").stated_text \
        == "horror films with monsters"
    assert shard.profile("u").stated is None  # the vector is the encoder holder's to make
    shard.close()
    rebuilt = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS))
    assert [rebuilt.stated_text(user) for user in ("u", "v", "w")] == ["horror films with monsters", "space adventures", ""]


def test_delete_user_removes_the_stated_interest_for_good(tmp_path):
    gone, kept = _users_of(0, 1, 2)
    shard = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS))
    shard.state_interest(gone, "horror")
    shard.state_interest(kept, "comedy")
    shard.apply([_ev("a", gone, "m0")], VECTORS)
    forgotten = shard.delete_user(gone)
    assert (forgotten.events, forgotten.stated_interest) == (1, True)
    assert shard.delete_user(gone).stated_interest is False
    assert shard.profile(gone).stated_text == ""
    shard.close()
    rebuilt = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS))
    assert (rebuilt.stated_text(gone), rebuilt.stated_text(kept)) == ("", "comedy")
    assert gone not in (tmp_path / "stated-shard-0000.jsonl").read_text()


def test_a_stated_interest_follows_its_user_when_the_shard_count_changes(tmp_path):
    user = _users_of(1, 2, 1)[0]
    two = UserShard(1, 2, tmp_path, DIM, CONFIG, FakeLookup(VECTORS))
    two.state_interest(user, "heists")
    two.close()
    one = UserShard(0, 1, tmp_path, DIM, CONFIG, FakeLookup(VECTORS))
    assert one.stated_text(user) == "heists"
