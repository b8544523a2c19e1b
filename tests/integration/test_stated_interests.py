"""Stated interests over real HTTP: PUT/GET /users/{id}/interests, used by the ranking at
once, given way to as the user acts, logged durably and deleted with the user; for the
per-event vector app and for the app with an interest model."""

from __future__ import annotations

from pathlib import Path

import httpx
import lancedb
import pytest

from rec.config import RecConfig

pytestmark = pytest.mark.ray

MONSTERS = "horror films with monsters"


def _items_of(config: RecConfig, genre: str, without: str) -> list[str]:
    """Item ids of `genre` and not `without`, in item_id order (not table order, which varies)."""
    rows = lancedb.connect(config.paths.lancedb_uri).open_table("items").to_arrow()
    return sorted(
        (r["item_id"] for r in rows.select(["item_id", "categories"]).to_pylist()
         if genre in (r["categories"] or []) and without not in (r["categories"] or [])),
        key=int,
    )


def _share(recs: dict, genre: str) -> int:
    return sum(genre in item["categories"] for item in recs["items"])


def test_a_stated_interest_answers_at_once_then_behaviour_takes_over(either_client: tuple[str, httpx.Client], config: RecConfig) -> None:
    app, http = either_client
    user = f"states-monsters-{app}"
    reply = http.put(f"/users/{user}/interests", json={"text": f"  {MONSTERS} "})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"user_id": user, "text": MONSTERS}  # stored trimmed
    assert http.get(f"/users/{user}/interests").json() == {"user_id": user, "text": MONSTERS}

    said = http.get(f"/users/{user}/recommendations", params={"k": 10, "explain": "true"}).json()
    assert said["strategy"] == "interest" and said["n_events"] == 0  # no event yet, not popular items
    assert all(item["because"] == [{"item_id": None, "title": None, "stated_interest": MONSTERS, "text": None,
                                    "contribution": item["because"][0]["contribution"]}] for item in said["items"])
    assert _share(said, "Horror") >= 6, [i["title"] for i in said["items"]]

    comedies = _items_of(config, "Comedy", without="Horror")[:5]
    http.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in comedies]).raise_for_status()
    acted = http.get(f"/users/{user}/recommendations", params={"k": 10}).json()
    assert _share(acted, "Comedy") >= 5, [(i["title"], i["categories"]) for i in acted["items"]]
    assert _share(acted, "Horror") < _share(said, "Horror")


def test_clearing_and_deleting_a_stated_interest(client: httpx.Client, config: RecConfig) -> None:
    user = "states-then-leaves"
    popular = client.get(f"/users/{user}/recommendations").json()
    assert popular["strategy"] == "popular"
    client.put(f"/users/{user}/interests", json={"text": MONSTERS}).raise_for_status()
    assert client.get(f"/users/{user}/recommendations").json()["strategy"] == "interest"
    assert client.put(f"/users/{user}/interests", json={"text": ""}).json()["text"] == ""  # cleared
    assert client.get(f"/users/{user}/recommendations").json()["items"] == popular["items"]

    client.put(f"/users/{user}/interests", json={"text": "old musicals"}).raise_for_status()
    logged = lambda: "".join(p.read_text() for p in Path(config.paths.event_log_dir).glob("stated-*.jsonl"))  # noqa: E731
    assert "old musicals" in logged()  # on disk before the 200
    deleted = client.delete(f"/users/{user}").json()
    assert deleted == {"user_id": user, "deleted_events": 0, "deleted_stated_interest": True}
    assert client.get(f"/users/{user}/interests").json()["text"] == ""
    assert client.get(f"/users/{user}/recommendations").json()["strategy"] == "popular"
    assert f'"{user}"' not in logged()


@pytest.mark.parametrize(("body", "field"), [
    ({}, "text"), ({"text": 5}, "text"), ({"text": "x", "extra": 1}, "extra"), ({"text": "x" * 2001}, "text"),
])
def test_a_bad_stated_interest_is_a_422_and_changes_nothing(client: httpx.Client, body: dict, field: str) -> None:
    user = "states-badly"
    reply = client.put(f"/users/{user}/interests", json=body)
    assert reply.status_code == 422 and field in str(reply.json()["detail"]), reply.text
    assert client.get(f"/users/{user}/interests").json()["text"] == ""
    assert client.put("/users/bad'id/interests", json={"text": "x"}).status_code == 422
