from pathlib import Path

from rec.storage.impressions import Impression, ImpressionLog, impressions_path, read_impressions


def _impression(n: int, writer: str = "a") -> Impression:
    return Impression(f"{writer}{n}", f"user{n % 3}", "user", "champion", "interest-model/1",
                      ("1", "2", str(n)), 0, 1000.0 + n)


def test_nothing_is_written_until_a_flush_then_one_batch(tmp_path: Path) -> None:
    log = ImpressionLog(impressions_path(tmp_path, "a"))
    for n in range(5):
        log.add(_impression(n))
    assert read_impressions(tmp_path) == []  # off the hot path: in memory until the flush
    assert log.flush() == 5
    assert log.flush() == 0
    assert read_impressions(tmp_path) == [_impression(n) for n in range(5)]


def test_every_writer_is_read_in_served_order_and_a_torn_line_is_cut(tmp_path: Path) -> None:
    first, second = ImpressionLog(impressions_path(tmp_path, "a")), ImpressionLog(impressions_path(tmp_path, "b"))
    first.add(_impression(2, "a"))
    second.add(_impression(1, "b"))
    first.close()
    second.close()
    with open(impressions_path(tmp_path, "a"), "ab") as handle:
        handle.write(b'{"request_id": "torn')  # a crash mid-write
    assert [i.request_id for i in read_impressions(tmp_path)] == ["b1", "a2"]
    again = ImpressionLog(impressions_path(tmp_path, "a"))
    again.add(_impression(3, "a"))
    again.close()
    assert [i.request_id for i in read_impressions(tmp_path)] == ["b1", "a2", "a3"]
