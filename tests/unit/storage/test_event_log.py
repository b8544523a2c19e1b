"""Tests for rec.storage.event_log: durable JSON-lines log, torn tails, merged reads."""

from __future__ import annotations

import json

import pytest

from jetstream_server import delete_stream, new_stream_location
from rec.storage.event_log import EventLogWriter, LoggedEvent, read_all_logs, read_log, shard_log_path


def _event(n: int, logged_at: float, user: str = "u1") -> LoggedEvent:
    return LoggedEvent(f"e{n}", user, f"item{n}", "click", 1000.0 + n + 0.25, logged_at)


def test_shard_log_path(tmp_path):
    assert shard_log_path(tmp_path, 3) == tmp_path / "events-shard-0003.jsonl"


def test_append_read_round_trip(tmp_path):
    path = shard_log_path(tmp_path / "log", 0)  # parent folder is created
    writer = EventLogWriter(path)
    first = [_event(1, 10.0), _event(2, 10.0)]
    second = [LoggedEvent("e3", "user:7", "item.3", "purchase", 1.7e9 + 0.123456, 11.5)]
    writer.append(first)
    writer.append([])  # nothing written
    writer.append(second)
    writer.close()
    assert list(read_log(path)) == first + second
    assert path.read_bytes().count(b"\n") == 3
    json.loads(path.read_bytes().splitlines()[0])  # one JSON object a line


def test_read_missing_file_is_empty(tmp_path):
    assert list(read_log(tmp_path / "nope.jsonl")) == []
    assert read_all_logs(tmp_path / "no-dir") == []


def test_torn_last_line_skipped_then_cut(tmp_path):
    path = shard_log_path(tmp_path, 0)
    writer = EventLogWriter(path)
    writer.append([_event(1, 1.0), _event(2, 2.0)])
    writer.close()
    intact = path.read_bytes()
    with open(path, "ab") as handle:  # a crash in the middle of a write
        handle.write(b'{"event_id":"e3","user_id":"u1","ite')

    assert [e.event_id for e in read_log(path)] == ["e1", "e2"]

    writer = EventLogWriter(path)  # reopening cuts the torn tail
    assert path.read_bytes() == intact
    writer.append([_event(4, 4.0)])
    writer.close()
    assert [e.event_id for e in read_log(path)] == ["e1", "e2", "e4"]


def test_torn_only_line_cut_to_empty(tmp_path):
    path = shard_log_path(tmp_path, 0)
    path.write_bytes(b'{"event_id":"e1"')
    assert list(read_log(path)) == []
    writer = EventLogWriter(path)
    assert path.read_bytes() == b""
    writer.append([_event(1, 1.0)])
    writer.close()
    assert [e.event_id for e in read_log(path)] == ["e1"]


def test_writer_on_empty_or_clean_file_keeps_it(tmp_path):
    path = shard_log_path(tmp_path, 0)
    EventLogWriter(path).close()
    assert path.read_bytes() == b""
    writer = EventLogWriter(path)
    writer.append([_event(1, 1.0)])
    writer.close()
    before = path.read_bytes()
    EventLogWriter(path).close()
    assert path.read_bytes() == before


def test_read_all_logs_merges_by_logged_at(tmp_path):
    w0 = EventLogWriter(shard_log_path(tmp_path, 0))
    w1 = EventLogWriter(shard_log_path(tmp_path, 1))
    w0.append([_event(1, 1.0, "a"), _event(3, 3.0, "a")])
    w1.append([_event(2, 2.0, "b"), _event(4, 4.0, "b")])
    w0.append([_event(5, 5.0, "a"), _event(6, 5.0, "a")])  # a tie within one file keeps file order
    w0.close()
    w1.close()
    (tmp_path / "other.jsonl").write_text("not an event log\n")  # ignored: wrong name
    merged = read_all_logs(tmp_path)
    assert [e.event_id for e in merged] == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert [e.logged_at for e in merged] == sorted(e.logged_at for e in merged)


def test_read_all_logs_skips_torn_tail_of_each_shard(tmp_path):
    for shard, at in ((0, 1.0), (1, 2.0)):
        writer = EventLogWriter(shard_log_path(tmp_path, shard))
        writer.append([_event(shard, at)])
        writer.close()
        with open(shard_log_path(tmp_path, shard), "ab") as handle:
            handle.write(b'{"torn":')
    assert [e.event_id for e in read_all_logs(tmp_path)] == ["e0", "e1"]


@pytest.mark.jetstream
def test_on_jetstream_a_resent_batch_is_stored_once_but_a_forgotten_users_event_again():
    location = new_stream_location()
    try:
        writer = EventLogWriter(location, 0)
        event = LoggedEvent("e1", "u", "i1", "like", 1.0, 2.0)
        writer.append([event])
        writer.append([event])  # a retry after a lost ack: JetStream keeps the first copy
        assert [e.event_id for e in writer.read()] == ["e1"]
        assert writer.remove_user("u") == 1 and list(writer.read()) == []
        writer.append([event])  # the forgotten user's event comes again: a new event, not a resend
        assert list(writer.read()) == [event]
    finally:
        delete_stream(location)
