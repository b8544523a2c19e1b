"""Tests for rec.storage.stated_interests: latest-wins reads, clearing, a torn tail."""

from __future__ import annotations

from rec.storage.stated_interests import StatedInterest, StatedInterestLog, read_stated_interests, stated_log_path


def test_the_latest_logged_wins_across_files_and_an_empty_text_clears(tmp_path):
    first, second = StatedInterestLog(tmp_path, 0), StatedInterestLog(tmp_path, 1)
    first.append(StatedInterest("u", "horror", 1.0))
    second.append(StatedInterest("u", "comedy", 2.0))  # written later under another shard count
    first.append(StatedInterest("v", "musicals", 1.5))
    second.append(StatedInterest("v", "", 3.0))
    first.close(), second.close()
    assert {user: s.text for user, s in read_stated_interests(tmp_path).items()} == {"u": "comedy"}


def test_a_torn_last_line_is_cut_and_the_next_append_is_whole(tmp_path):
    path = stated_log_path(tmp_path, 0)
    log = StatedInterestLog(tmp_path, 0)
    log.append(StatedInterest("u", "horror", 1.0))
    log.close()
    with open(path, "ab") as handle:
        handle.write(b'{"user_id":"v","te')  # a crash mid-write
    assert set(read_stated_interests(tmp_path)) == {"u"}
    log = StatedInterestLog(tmp_path, 0)
    log.append(StatedInterest("w", "westerns", 2.0))
    log.close()
    assert {user: s.text for user, s in read_stated_interests(tmp_path).items()} == {"u": "horror", "w": "westerns"}
