"""The service's Prometheus metrics, scraped from Ray's metrics agent during traffic: the
project's counters move by exactly the requests sent."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest

pytestmark = pytest.mark.ray

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)")


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample at `url` (Prometheus text format): (name, labels) -> value."""
    samples = {}
    for line in httpx.get(url, timeout=10).raise_for_status().text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
            samples[(match["name"], labels)] = float(match["value"])
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of `name` over every label set that has `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


COUNTS = {  # what the traffic below must add to each
    "accepted": ("ray_rec_events_accepted_total", {}),
    "duplicates": ("ray_rec_events_duplicate_total", {}),
    "unknown item": ("ray_rec_events_rejected_total", {"reason": "unknown_item"}),
    "invalid": ("ray_rec_events_rejected_total", {"reason": "invalid"}),
    "user answers": ("ray_rec_recommendation_latency_ms_count", {"endpoint": "user"}),
    "popular answers": ("ray_rec_recommendation_latency_ms_count", {"endpoint": "user", "strategy": "popular"}),
    "text answers": ("ray_rec_recommendation_latency_ms_count", {"endpoint": "text", "strategy": "text"}),
    "fallbacks to popular": ("ray_rec_fallbacks_total", {"strategy": "popular"}),
}


def _counts(url: str) -> dict[str, float]:
    samples = scrape(url)
    return {what: total(samples, name, **labels) for what, (name, labels) in COUNTS.items()}


def _settled(read: Callable[[], dict], wait_s: float = 1.5, timeout_s: float = 60) -> dict:
    """Counts that two reads `wait_s` apart agree on: everything sent so far is reported."""
    deadline, last = time.monotonic() + timeout_s, read()
    while time.monotonic() < deadline:
        time.sleep(wait_s)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"the metrics did not settle in {timeout_s} s: {last}")


def test_metrics_count_the_requests_sent(client: httpx.Client, ray_cluster: str) -> None:
    read = lambda: _counts(ray_cluster)  # noqa: E731
    before = _settled(read)
    events = [{"user_id": f"metered-{n}", "item_id": "50", "type": "like", "event_id": f"metered-{n}"} for n in range(7)]
    assert client.post("/events", json=events).json()["accepted"] == 7
    assert client.post("/events", json=events[:2]).json()["duplicates"] == 2
    assert client.post("/events", json={"user_id": "metered-0", "item_id": "no-such-item", "type": "like"}).status_code == 422
    for bad in [{"user_id": "metered-0", "item_id": "50", "type": "frown"}, {"user_id": "metered-0"}]:
        assert client.post("/events", json=bad).status_code == 422
    for n in range(5):
        client.get(f"/users/metered-{n}/recommendations").raise_for_status()
    for n in range(3):
        client.get(f"/users/metered-newcomer-{n}/recommendations").raise_for_status()  # no history: popular
    client.post("/recommendations/text", json={"text": "space adventures"}).raise_for_status()

    expected = {"accepted": 7, "duplicates": 2, "unknown item": 1, "invalid": 2, "user answers": 8,
                "popular answers": 3, "text answers": 1, "fallbacks to popular": 3}
    deadline = time.monotonic() + 60
    while True:
        added = {what: read()[what] - before[what] for what in COUNTS}
        if added == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert added == expected
    samples = scrape(ray_cluster)
    live = [dict(labels) for (name, labels), value in samples.items() if name == "ray_rec_live_version" and value == 1]
    version = client.get("/version").json()
    assert {(v["encoder_version"], v["items_table_version"]) for v in live} == {
        (version["encoder_version"], str(version["items_table_version"]))}
    assert total(samples, "ray_serve_num_http_requests_total") > 0  # Serve's own beside ours
