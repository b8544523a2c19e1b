"""Hiding items over real HTTP: a hidden item leaves every route at once, comes back when
shown again, and the log on disk holds it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from rec.config import RecConfig

pytestmark = pytest.mark.ray


def _answers(http: httpx.Client) -> dict[str, list[str]]:
    """Each route's item ids: popular for a new user, the interest of a user, free text, similar."""
    answers = {
        "popular": http.get("/users/nobody-yet/recommendations", params={"k": 10}).json(),
        "interest": http.get("/users/hide-watcher/recommendations", params={"k": 10}).json(),
        "text": http.post("/recommendations/text", json={"text": "a space adventure with robots", "k": 10}).json(),
        "similar": http.get("/items/172/similar", params={"k": 10}).json(),
    }
    assert answers["popular"]["strategy"] == "popular" and answers["interest"]["strategy"] == "interest"
    return {route: [item["item_id"] for item in answer["items"]] for route, answer in answers.items()}


def test_a_hidden_item_leaves_every_route_until_it_is_shown_again(client: httpx.Client, config: RecConfig) -> None:
    client.post("/events", json=[{"user_id": "hide-watcher", "item_id": i, "type": "like"}
                                 for i in ("50", "181", "82")]).raise_for_status()
    before = _answers(client)
    tops = sorted({ids[0] for ids in before.values()})  # each route's best item
    try:
        for item_id in tops:
            reply = client.post(f"/items/{item_id}/hide")
            assert reply.status_code == 200 and reply.json() == {"item_id": item_id, "hidden": True, "changed": True}
        assert client.post(f"/items/{tops[0]}/hide").json()["changed"] is False  # already hidden
        assert client.get("/items/hidden").json() == {"items": tops}
        hidden = _answers(client)
        for route, ids in hidden.items():
            assert not set(ids) & set(tops), (route, ids)
            assert len(ids) == 10, route  # the next items move up
            assert ids[: 10 - len(tops)] == [i for i in before[route] if i not in tops][: 10 - len(tops)], route
        logged = (Path(config.paths.new_items_dir) / "hidden_items.jsonl").read_text()
        assert all(f'"{item_id}"' in logged for item_id in tops)  # on disk before the 200
    finally:
        for item_id in tops:
            assert client.post(f"/items/{item_id}/unhide").json()["hidden"] is False
    assert client.get("/items/hidden").json() == {"items": []}
    assert _answers(client) == before


def test_hiding_an_unknown_or_malformed_item_is_a_4xx(client: httpx.Client) -> None:
    reply = client.post("/items/no-such-item/hide")
    assert reply.status_code == 404 and "no-such-item" in reply.json()["detail"]
    assert client.post("/items/bad'id/unhide").status_code == 422
    assert client.get("/items/hidden").json() == {"items": []}
