"""Filters on the attributes a catalogue declares (catalog.filterable) over real HTTP. The
session's catalogue declares `runtime` (int) and `language` (string): the embed job keeps
them, both apps filter on them inside their queries (the items table, and the interest
model's scoring table), and a bad filter is a 422 that names it. (New items carry them
too: tests/integration/test_new_items.py, whose items the replay test must not see.)"""

from __future__ import annotations

import httpx
import pytest

from catalog_items import fixture_runtime, items_of
from rec.config import RecConfig

pytestmark = pytest.mark.ray

FILTERS = {"runtime_min": 100, "runtime_max": 140, "language": ["fr", "de"]}


def _holds(item: dict) -> bool:
    attributes = item["attributes"]
    return attributes["runtime"] is not None and 100 <= attributes["runtime"] <= 140 and attributes["language"] in ("fr", "de")


def test_declared_attributes_filter_every_route_of_both_apps(either_client: tuple[str, httpx.Client], config: RecConfig) -> None:
    app, http = either_client
    user = f"by-attributes-{app}"
    liked = [i["item_id"] for i in items_of(config, "Horror")[:3]]
    http.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in liked]).raise_for_status()
    answers = {
        "user": http.get(f"/users/{user}/recommendations", params=FILTERS),
        "new user": http.get(f"/users/{user}-new/recommendations", params=FILTERS),
        "similar": http.get(f"/items/{liked[0]}/similar", params=FILTERS),
        "text": http.post("/recommendations/text", json={"text": "scary", **FILTERS}),
    }
    for route, reply in answers.items():
        assert reply.status_code == 200, (route, reply.text)
        items = reply.json()["items"]
        assert len(items) == 10 and all(_holds(i) for i in items), (route, [i["attributes"] for i in items])
        assert all(i["attributes"]["runtime"] == fixture_runtime(int(i["item_id"])) for i in items), route
    unfiltered = http.get(f"/users/{user}/recommendations", params={"k": 50}).json()["items"]
    assert not all(_holds(i) for i in unfiltered)  # the filter is what kept them
    one_language = http.get(f"/users/{user}/recommendations", params={"language": "en", "year_max": 1995}).json()
    assert {i["attributes"]["language"] for i in one_language["items"]} == {"en"}
    assert all(i["year"] <= 1995 for i in one_language["items"])
    assert http.get("/version").json()["filters"] == {"year": "int", "runtime": "int", "language": "string"}


@pytest.mark.parametrize(("params", "named"), [
    ({"runtime_min": "long"}, "runtime_min"), ({"runtime_min": 150, "runtime_max": 90}, "runtime_min"),
    ({"runtime": 90}, "runtime"), ({"language_min": "en"}, "language_min"), ({"colour": "red"}, "colour"),
    ({"language": "en\u0000"}, "language"),
])
def test_a_bad_attribute_filter_is_a_422_that_names_it(client: httpx.Client, params: dict, named: str) -> None:
    for reply in (client.get("/users/anyone/recommendations", params=params),
                  client.get("/items/1/similar", params=params),
                  client.post("/recommendations/text", json={"text": "scary", **params})):
        assert reply.status_code == 422 and named in reply.json()["detail"], reply.text
