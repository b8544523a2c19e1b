"""Tests for rec.storage.hidden_items on both shared-log backends: hide, show again, other
writers; and a torn tail of the file."""

from __future__ import annotations

from rec.storage.hidden_items import LOG_NAME, HiddenItemsLog
from rec.storage.shared_log import shared_log_path


def test_hide_and_unhide_are_durable_and_the_latest_record_wins(location):
    log = HiddenItemsLog(location)
    assert log.refresh() == frozenset()
    assert log.set_hidden("a", True) and log.set_hidden("b", True)
    assert not log.set_hidden("a", True)  # already hidden: nothing written
    assert log.set_hidden("a", False)
    assert log.refresh() == {"b"}
    assert HiddenItemsLog(location).refresh() == {"b"}  # a replica that starts later reads it all


def test_another_replica_sees_a_hide_on_its_next_refresh(location):
    mine, theirs = HiddenItemsLog(location), HiddenItemsLog(location)
    mine.refresh(), theirs.refresh()
    theirs.set_hidden("x", True)
    assert mine.refresh() == {"x"}
    assert not mine.set_hidden("x", True)  # it reads what the others wrote before writing
    assert mine.set_hidden("x", False) and theirs.refresh() == frozenset()


def test_a_writer_behind_the_log_reads_it_before_writing(location):
    """Another replica hid the item after this one last read: hiding it again writes nothing."""
    mine, theirs = HiddenItemsLog(location), HiddenItemsLog(location)
    mine.refresh()
    theirs.set_hidden("y", True)
    assert not mine.set_hidden("y", True)
    assert mine.set_hidden("y", False) and not theirs.set_hidden("y", False)
    assert HiddenItemsLog(location).refresh() == frozenset()


def test_each_change_is_one_line_of_the_file(tmp_path):
    log = HiddenItemsLog(tmp_path)
    log.set_hidden("a", True), log.set_hidden("a", True), log.set_hidden("a", False)
    assert len(shared_log_path(tmp_path, LOG_NAME).read_text().splitlines()) == 2


def test_a_torn_last_line_is_skipped_then_cut_by_the_next_writer(tmp_path):
    log = HiddenItemsLog(tmp_path)
    log.set_hidden("a", True)
    with open(shared_log_path(tmp_path, LOG_NAME), "ab") as handle:
        handle.write(b'{"item_id":"b","hid')  # a writer crashed mid-line
    reader = HiddenItemsLog(tmp_path)
    assert reader.refresh() == {"a"}
    assert log.set_hidden("c", True)  # cuts the torn line first
    assert reader.refresh() == {"a", "c"}  # it had read up to the last whole line only
