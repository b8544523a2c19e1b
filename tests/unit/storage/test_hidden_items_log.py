"""Tests for rec.storage.hidden_items: hide, show again, other writers, a torn tail."""

from __future__ import annotations

from rec.storage.hidden_items import HiddenItemsLog, hidden_items_log_path


def test_hide_and_unhide_are_durable_and_the_latest_line_wins(tmp_path):
    log = HiddenItemsLog(hidden_items_log_path(tmp_path))
    assert log.refresh() == frozenset()
    assert log.set_hidden("a", True) and log.set_hidden("b", True)
    assert not log.set_hidden("a", True)  # already hidden: nothing written
    assert log.set_hidden("a", False)
    assert log.refresh() == {"b"}
    assert len(log.path.read_text().splitlines()) == 3
    assert HiddenItemsLog(log.path).refresh() == {"b"}  # a replica that starts later reads it all


def test_another_replica_sees_a_hide_on_its_next_refresh(tmp_path):
    path = hidden_items_log_path(tmp_path)
    mine, theirs = HiddenItemsLog(path), HiddenItemsLog(path)
    mine.refresh(), theirs.refresh()
    theirs.set_hidden("x", True)
    assert mine.refresh() == {"x"}
    assert not mine.set_hidden("x", True)  # it re-reads under the lock before writing
    assert mine.set_hidden("x", False) and theirs.refresh() == frozenset()


def test_a_torn_last_line_is_skipped_then_cut_by_the_next_writer(tmp_path):
    log = HiddenItemsLog(hidden_items_log_path(tmp_path))
    log.set_hidden("a", True)
    with open(log.path, "ab") as handle:
        handle.write(b'{"item_id":"b","hid')  # a writer crashed mid-line
    reader = HiddenItemsLog(log.path)
    assert reader.refresh() == {"a"}
    assert log.set_hidden("c", True)  # cuts the torn line first
    assert reader.refresh() == {"a", "c"}  # it had read up to the last whole line only
