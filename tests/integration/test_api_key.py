"""An app with ``serve.api_key`` set (the second test app) refuses writes without the key: a 401
that names the header, and nothing changes."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.ray

WRITES = [
    ("POST", "/events", {"json": {"user_id": "key-user", "item_id": "50", "type": "like"}}),
    ("POST", "/items", {"json": {"item_id": "key-item", "title": "The Keyless Wonder"}}),
    ("PUT", "/users/key-user/interests", {"json": {"text": "horror films with monsters"}}),
    ("DELETE", "/users/key-user", {}),
    ("POST", "/items/50/hide", {}),
    ("POST", "/admin/reload", {}),
]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}], ids=["missing", "wrong", "empty"])
def test_writes_without_the_key_are_refused_and_change_nothing(
    model_base_url: str, model_client: httpx.Client, headers: dict
) -> None:
    with httpx.Client(base_url=model_base_url, headers=headers, timeout=60) as anonymous:
        for method, path, kwargs in WRITES:
            reply = anonymous.request(method, path, **kwargs)
            assert reply.status_code == 401, (path, reply.text)
            assert "X-API-Key" in reply.json()["detail"]
        assert anonymous.get("/users/key-user/recommendations").status_code == 200  # reads need no key

    user = model_client.get("/users/key-user/recommendations").json()
    assert user["n_events"] == 0 and user["strategy"] == "popular"  # the event was not recorded, nor the interest
    assert model_client.get("/users/key-user/interests").json()["text"] == ""
    assert model_client.get("/items/hidden").json()["items"] == []
    unknown = model_client.post("/events", json={"user_id": "key-user", "item_id": "key-item", "type": "like"})
    assert unknown.status_code == 422 and "key-item" in unknown.json()["detail"]  # nor the item added


def test_writes_with_the_key_go_through(model_client: httpx.Client) -> None:
    reply = model_client.post("/events", json={"user_id": "key-holder", "item_id": "50", "type": "like"})
    assert reply.status_code == 200, reply.text
    assert model_client.get("/users/key-holder/recommendations").json()["n_events"] == 1
    assert model_client.delete("/users/key-holder").status_code == 200
    assert model_client.get("/users/key-holder/recommendations").json()["n_events"] == 0
