"""POST /items over real HTTP: a brand-new item is recommendable at once, durable, and
becomes a regular item at the next nightly embed."""

from __future__ import annotations

from pathlib import Path

import httpx
import lancedb
import numpy as np
import pyarrow.compute as pc
import pytest

from rec.config import RecConfig
from rec.storage.new_item_vectors import NewItemVectorTable
from catalog_items import FILTERABLE
from rec.storage.new_item_log import LOG_NAME, NewItem, NewItemLog, new_item_texts, read_new_items
from rec.storage.shared_log import shared_log_path

pytestmark = pytest.mark.ray

# A distinctive item, and a category no catalogue item has: a filter on it leaves only this item.
WIZARD = {
    "item_id": "new-cheese-wizard", "title": "Zorblax the Intergalactic Cheese Wizard", "year": 2031,
    "categories": ["Fantasy", "Cheeseverse"], "description": "A wizard who turns moons into cheese.",
}


def _catalogue_row(config: RecConfig, item_id: str) -> dict:
    rows = lancedb.connect(config.paths.lancedb_uri).open_table("items").to_arrow()
    return rows.filter(pc.equal(rows["item_id"], item_id)).to_pylist()[0]


def _log_size(config: RecConfig) -> int:
    path = shared_log_path(config.paths.new_items_dir, LOG_NAME)
    return path.stat().st_size if path.exists() else 0


@pytest.fixture(scope="module")
def wizard(client_module: httpx.Client) -> dict:
    reply = client_module.post("/items", json=WIZARD)
    assert reply.status_code == 200, reply.text
    assert reply.json()["added"] == 1
    return WIZARD


@pytest.fixture(scope="module")
def client_module(base_url: str):
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


def test_posted_item_is_found_by_text_at_once_and_logged(client: httpx.Client, config: RecConfig, wizard: dict):
    recs = client.post("/recommendations/text", json={"text": "intergalactic cheese wizard", "k": 5}).json()
    assert recs["items"][0]["item_id"] == wizard["item_id"], recs["items"]
    assert recs["items"][0]["categories"] == wizard["categories"]
    logged = {item.item_id: item for item in read_new_items(config.paths.new_items_dir)}
    assert logged[wizard["item_id"]].content() == NewItem.from_row(wizard).content()
    assert client.get("/version").json()["fresh_items"] >= 1


def test_every_recommendation_route_can_return_a_new_item(client: httpx.Client, wizard: dict) -> None:
    only = {"category": "Cheeseverse"}  # the filter applies to new items too: nothing else matches
    client.post("/events", json={"user_id": "cheese-fan", "item_id": "1", "type": "like"}).raise_for_status()
    answers = {
        "interest": client.get("/users/cheese-fan/recommendations", params=only),
        "text": client.post("/recommendations/text", json={"text": "comedy", "categories": ["Cheeseverse"]}),
        "similar": client.get("/items/1/similar", params=only),
    }
    for route, reply in answers.items():
        assert reply.status_code == 200, (route, reply.text)
        assert [i["item_id"] for i in reply.json()["items"]] == [wizard["item_id"]], route
    assert answers["interest"].json()["strategy"] == "interest"


def test_reposted_catalogue_item_gets_the_catalogue_vector(client: httpx.Client, config: RecConfig) -> None:
    """Same template, same encoder, same pooling: the live vector equals the nightly one."""
    toy_story = _catalogue_row(config, "1")
    copy = {"item_id": "toy-story-copy", "title": toy_story["title"], "year": toy_story["year"],
            "categories": toy_story["categories"]}
    reply = client.post("/items", json=copy)
    assert reply.status_code == 200, reply.text
    encoder = reply.json()["encoder_version"]
    [text] = new_item_texts([NewItem.from_row(copy)], config.catalog)
    assert text == toy_story["text"]
    stored = NewItemVectorTable(config.paths.lancedb_uri, "items", encoder).vectors({"toy-story-copy": text})
    np.testing.assert_allclose(stored["toy-story-copy"], np.asarray(toy_story["vector"]), atol=1e-5)
    # A user who liked Toy Story gets its copy first: same vector, score 1.
    client.post("/events", json={"user_id": "toy-fan", "item_id": "1", "type": "like"}).raise_for_status()
    recs = client.get("/users/toy-fan/recommendations", params={"k": 3}).json()
    assert recs["items"][0]["item_id"] == "toy-story-copy" and recs["items"][0]["score"] == pytest.approx(1, abs=1e-4)
    similar = client.get("/items/toy-story-copy/similar", params={"k": 1}).json()["items"]
    assert [i["item_id"] for i in similar] == ["1"]


def test_events_on_a_new_item_are_accepted_and_use_its_text_vector(client: httpx.Client, wizard: dict) -> None:
    user = "wizard-watcher"
    reply = client.post("/events", json={"user_id": user, "item_id": wizard["item_id"], "type": "like"})
    assert reply.status_code == 200 and reply.json()["accepted"] == 1, reply.text
    recs = client.get(f"/users/{user}/recommendations", params={"k": 5}).json()
    assert recs["strategy"] == "interest" and recs["n_events"] == 1  # the event moved the interest vector
    assert wizard["item_id"] not in [i["item_id"] for i in recs["items"]]  # seen: left out
    # The interest is the item's own text vector, so the answer is its nearest items.
    similar = client.get(f"/items/{wizard['item_id']}/similar", params={"k": 5}).json()["items"]
    assert [i["item_id"] for i in recs["items"]] == [i["item_id"] for i in similar]
    assert client.get(f"/users/{user}/recommendations", params={"category": "Cheeseverse"}).json()["items"] == []


def test_repost_is_idempotent_and_conflicts_are_409(client: httpx.Client, config: RecConfig, wizard: dict) -> None:
    size = _log_size(config)
    again = client.post("/items", json=[wizard, wizard])
    assert again.status_code == 200 and again.json()["added"] == 0 and again.json()["duplicates"] == 2
    changed = client.post("/items", json={**wizard, "title": "Zorblax Returns"})
    assert changed.status_code == 409 and "new-cheese-wizard" in changed.json()["detail"]
    toy_story = _catalogue_row(config, "1")
    clash = client.post("/items", json={"item_id": "1", "title": "Not Toy Story"})
    assert clash.status_code == 409 and "'1'" in clash.json()["detail"]
    same = {"item_id": "1", "title": toy_story["title"], "year": toy_story["year"],
            "categories": toy_story["categories"], **{name: toy_story[name] for name in FILTERABLE}}
    assert client.post("/items", json=same).json()["duplicates"] == 1  # the catalogue item, as it is
    other_runtime = {**same, "runtime": (toy_story["runtime"] or 0) + 1}  # a declared attribute is content too
    assert client.post("/items", json=other_runtime).status_code == 409
    assert _log_size(config) == size
    assert [i.item_id for i in read_new_items(config.paths.new_items_dir)].count(wizard["item_id"]) == 1


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"item_id": "no-title"}, "title", 422),
        ({"item_id": "blank-title", "title": "   "}, "title", 422),
        ({"item_id": "x'; DROP TABLE items; --", "title": "T"}, "item_id", 422),
        ({"item_id": "bad-year", "title": "T", "year": "1999"}, "year", 422),
        ({"item_id": "bad-cat", "title": "T", "categories": ['Drama" OR 1=1']}, "categories", 422),
        ({"item_id": "extra", "title": "T", "rating": 5}, "rating", 422),
        ([], "body", 422),
        ([{"item_id": "twice", "title": "A"}, {"item_id": "twice", "title": "B"}], "twice", 422),
        ([{"item_id": f"many-{i}", "title": "T"} for i in range(101)], "body", 413),
    ],
)
def test_bad_items_are_refused_naming_the_field_and_write_nothing(
    client: httpx.Client, config: RecConfig, body: object, field: str, status: int,
) -> None:
    size = _log_size(config)
    reply = client.post("/items", json=body)
    assert reply.status_code == status, reply.text
    assert field in str(reply.json()["detail"])
    assert _log_size(config) == size


def test_unknown_item_events_are_still_refused(client: httpx.Client) -> None:
    reply = client.post("/events", json={"user_id": "u", "item_id": "never-posted", "type": "like"})
    assert reply.status_code == 422 and "never-posted" in reply.json()["detail"]


def test_another_app_sees_the_item_from_the_shared_log(model_client: httpx.Client, wizard: dict) -> None:
    """The second app (another ingress, with the interest model) reads the same log: the item is
    visible there too, and a candidate of the model's path through its text projection."""
    model_client.post("/events", json={"user_id": "model-cheese", "item_id": "50", "type": "like"}).raise_for_status()
    recs = model_client.get("/users/model-cheese/recommendations", params={"category": "Cheeseverse"}).json()
    assert recs["strategy"] == "interest-model"
    assert [i["item_id"] for i in recs["items"]] == [wizard["item_id"]]
    text = model_client.post("/recommendations/text", json={"text": "intergalactic cheese wizard", "k": 1}).json()
    assert text["items"][0]["item_id"] == wizard["item_id"]


def test_nightly_embed_makes_logged_items_regular_items(ray_cluster: str, config: RecConfig, tmp_path: Path) -> None:
    """The embed job embeds the log's items with the catalogue (not those the catalogue has)."""
    from jobs.embed_catalog import embed_catalog

    repo = Path(__file__).resolve().parents[2]
    item_log = NewItemLog(tmp_path / "items")
    item_log.append([NewItem("live-1", "Moon Cheese Odyssey", 2031, ("Sci-Fi",)), NewItem("1", "Shadowed id")])
    nightly = config.model_copy(update={
        "paths": config.paths.model_copy(update={"new_items_dir": str(tmp_path / "items")}),
        "catalog": config.catalog.model_copy(update={"path": str(repo / "tests/data/tiny_catalog.csv"), "filterable": {}}),
        "encoder": config.encoder.model_copy(update={"registered_name": "text-encoder-nightly-items"}),
        "embed": config.embed.model_copy(update={"table": "items_nightly", "popularity_events": None, "actors": 1}),
    })
    summary = embed_catalog(nightly)
    rows = lancedb.connect(config.paths.lancedb_uri).open_table("items_nightly").to_arrow()
    assert summary["live_added_items"] == 1 and rows.num_rows == 12 + 1
    live = rows.filter(pc.equal(rows["item_id"], "live-1")).to_pylist()[0]
    assert live["text"] == "Moon Cheese Odyssey (2031). Genres: Sci-Fi."
    assert rows.filter(pc.equal(rows["item_id"], "1")).to_pylist()[0]["title"] == "Toy Story"  # the catalogue's


def test_a_new_item_carries_its_attributes_into_the_filters(client: httpx.Client, config: RecConfig) -> None:
    epic = {"item_id": "very-long-epic", "title": "The Very Long Epic", "categories": ["Drama"],
            "runtime": 500, "language": "la"}
    assert client.post("/items", json=epic).raise_for_status().json()["added"] == 1
    found = client.post("/recommendations/text", json={"text": "a long epic", "runtime_min": 400}).json()["items"]
    assert [(i["item_id"], i["attributes"]) for i in found] == [("very-long-epic", {"language": "la", "runtime": 500})]
    assert client.get("/items/1/similar", params={"language": "la"}).json()["items"][0]["item_id"] == "very-long-epic"
    logged = {item.item_id: item for item in read_new_items(config.paths.new_items_dir)}["very-long-epic"]
    assert dict(logged.attributes) == {"language": "la", "runtime": 500}
    for bad, named in (({"colour": "red"}, "colour"), ({"runtime": "long"}, "runtime"), ({"runtime": True}, "runtime")):
        reply = client.post("/items", json={"item_id": "bad-attributes", "title": "Bad", **bad})
        assert reply.status_code == 422 and named in reply.json()["detail"], reply.text
    assert "bad-attributes" not in {item.item_id for item in read_new_items(config.paths.new_items_dir)}
