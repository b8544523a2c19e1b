"""Tests for rec.storage.record_log on both backends: JSON-lines files and JetStream
(the real server on 127.0.0.1:4222, a stream of the test's own)."""

from __future__ import annotations

import time

import pytest

from jetstream_server import delete_stream, new_stream_location
from rec.storage.record_log import open_record_log, read_all_records


def _records(user: str, n: int, start: int = 0) -> list[dict]:
    return [{"user_id": user, "n": i} for i in range(start, start + n)]


def test_records_come_back_in_order_and_a_reader_resumes_after_its_position(location):
    log = open_record_log(location, "events", 0)
    log.append(_records("u", 3))
    position = log.end()
    log.append(_records("v", 2) + _records("u", 1, start=3))
    assert [r["n"] for r in log.records()] == [0, 1, 2, 0, 1, 3]
    assert [(r["user_id"], r["n"]) for r in log.records(position)] == [("v", 0), ("v", 1), ("u", 3)]
    assert list(log.records(log.end())) == []
    assert log.holds(position) and log.holds(log.end())
    log.close()


def test_each_shard_has_its_own_log_and_all_are_read_together(location):
    first, second = open_record_log(location, "events", 0), open_record_log(location, "events", 1)
    first.append(_records("u", 2))
    second.append(_records("v", 1))
    open_record_log(location, "stated", 0).append(_records("w", 1))  # another kind: not read with these
    assert [r["user_id"] for r in first.records()] == ["u", "u"]
    assert sorted(r["user_id"] for r in read_all_records(location, "events")) == ["u", "u", "v"]
    assert [r["user_id"] for r in read_all_records(location, "stated")] == ["w"]


def test_remove_user_leaves_none_of_their_records_and_keeps_the_rest(location):
    log = open_record_log(location, "events", 0)
    log.append(_records("u", 2) + _records("v", 2) + _records("u", 1, start=2))
    assert log.remove_user("u") == 3
    assert [(r["user_id"], r["n"]) for r in log.records()] == [("v", 0), ("v", 1)]
    assert log.remove_user("u") == 0  # a repeated deletion finds nothing
    log.append(_records("v", 1, start=2))
    assert [r["n"] for r in open_record_log(location, "events", 0).records()] == [0, 1, 2]  # as a restart reads it


def test_a_log_made_again_does_not_hold_an_old_position(location, tmp_path):
    log = open_record_log(location, "events", 0)
    log.append(_records("u", 3))
    position = log.end()
    if isinstance(location, str):
        delete_stream(location)  # the stream made again under the same name
    else:
        (location / "events-shard-0000.jsonl").unlink()
    again = open_record_log(location, "events", 0)
    again.append(_records("v", 4))
    assert not again.holds(position)


@pytest.mark.jetstream
def test_jetstream_refuses_a_resent_message_id():
    location = new_stream_location()
    try:
        log = open_record_log(location, "events", 0)
        log.append(_records("u", 2), ids=["a", "b"])
        log.append(_records("u", 1, start=9), ids=["a"])  # a retry after a lost ack
        assert [r["n"] for r in log.records()] == [0, 1]
    finally:
        delete_stream(location)


@pytest.mark.jetstream
def test_jetstream_drops_records_older_than_max_age_days_and_keeps_new_ones():
    location = new_stream_location() + "?max_age_days=0.00002"  # 1.7 s
    try:
        log = open_record_log(location, "events", 0)
        log.append(_records("u", 3))
        position = log.end()
        deadline = time.monotonic() + 20
        while list(log.records()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert list(log.records()) == []  # aged out
        log.append(_records("v", 1))
        assert [r["user_id"] for r in log.records()] == ["v"]
        assert log.holds(position) and [r["user_id"] for r in log.records(position)] == ["v"]
    finally:
        delete_stream(location)


@pytest.mark.parametrize("option", ["max_age_days=0", "max_age_days=soon", "retention=7"])
def test_a_bad_stream_option_says_what_is_wrong(option):
    with pytest.raises(ValueError, match="max_age_days"):
        open_record_log(f"nats://127.0.0.1:4222/REC?{option}", "events", 0)


@pytest.mark.jetstream
def test_a_retention_set_later_is_applied_to_the_existing_stream():
    from rec.storage.jetstream import client, close_client

    location = new_stream_location()
    try:
        open_record_log(location, "events", 0).append(_records("u", 1))
        close_client(location)  # as a restart with the new config
        open_record_log(location + "?max_age_days=30", "events", 0)
        stream = client(location)
        assert stream.run(stream.js.stream_info(stream.stream)).config.max_age == 30 * 86_400
    finally:
        delete_stream(location)
