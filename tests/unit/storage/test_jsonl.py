"""Tests for rec.storage.jsonl: the durable JSON-lines writer both logs use."""

from __future__ import annotations

from rec.storage.jsonl import append_durably, complete_lines, cut_torn_tail, read_records, rewrite_durably


def test_append_then_read_in_write_order(tmp_path):
    path = tmp_path / "log.jsonl"
    with open(path, "ab") as handle:
        append_durably(handle, [{"a": 1}, {"a": 2}])
        append_durably(handle, [{"a": 3}])
    assert [r["a"] for r in read_records(path)] == [1, 2, 3]
    assert list(read_records(tmp_path / "missing.jsonl")) == []


def test_a_torn_last_line_is_skipped_by_readers_and_cut_by_writers(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":')  # a writer died mid-line
    assert [r["a"] for r in read_records(path)] == [1, 2]
    records, used = complete_lines(path.read_bytes())
    assert [r["a"] for r in records] == [1, 2] and used == len(b'{"a":1}\n{"a":2}\n')
    cut_torn_tail(path)
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n'
    cut_torn_tail(path)  # a clean file is left as it is
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n'


def test_rewrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n')
    rewrite_durably(path, [{"a": 2}])
    assert list(read_records(path)) == [{"a": 2}]
    assert not (tmp_path / "log.rewrite").exists()
