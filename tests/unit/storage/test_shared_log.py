"""Tests for rec.storage.shared_log: what every writer of a shared log relies on."""

from __future__ import annotations

import pytest

from jetstream_server import delete_stream, new_stream_location
from rec.storage.shared_log import open_shared_log


def test_records_of_one_append_come_back_together_in_order(location):
    writer, reader = open_shared_log(location, "things"), open_shared_log(location, "things")
    writer.append(lambda appended, restarted: [{"n": 1}, {"n": 2}])
    writer.append(lambda appended, restarted: [])  # nothing to write: nothing written
    assert reader.read_appended() == ([{"n": 1}, {"n": 2}], False)
    assert reader.read_appended() == ([], False)
    writer.append(lambda appended, restarted: [{"n": 3}])
    assert reader.read_appended() == ([{"n": 3}], False)
    assert open_shared_log(location, "other").read_appended() == ([], False)  # another log


@pytest.mark.jetstream
def test_an_append_that_lost_the_race_decides_again_on_what_the_winner_wrote():
    """Between a writer's read and its publish another writer appends: the subject no
    longer ends where the first one read it, so JetStream refuses the publish, and the
    writer reads again and decides again (here: the item is taken, so it writes nothing)."""
    location = new_stream_location()
    try:
        mine, theirs = open_shared_log(location, "claims"), open_shared_log(location, "claims")
        taken: set[str] = set()
        calls = 0

        def claim(appended: list[dict], restarted: bool) -> list[dict]:
            nonlocal calls
            calls += 1
            taken.update(r["item"] for r in appended)
            if calls == 1:  # the other writer gets in after this read
                theirs.append(lambda appended, restarted: [{"item": "x", "by": "theirs"}])
            return [] if "x" in taken else [{"item": "x", "by": "mine"}]

        mine.append(claim)
        assert calls == 2
        assert open_shared_log(location, "claims").read_appended()[0] == [{"item": "x", "by": "theirs"}]
    finally:
        delete_stream(location)
