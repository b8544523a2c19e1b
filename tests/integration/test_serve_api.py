"""The Serve app over real HTTP: events in, recommendations out."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import lancedb
import numpy as np
import pytest

from catalog_items import items_of
from rec.config import RecConfig

pytestmark = pytest.mark.ray


def _log_lines(config: RecConfig) -> int:
    return sum(len(p.read_text().splitlines()) for p in Path(config.paths.event_log_dir).glob("*.jsonl"))


def test_health_and_version(client: httpx.Client, embed_summary: dict) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    version = client.get("/version").json()
    assert version["encoder_version"] == embed_summary["encoder"]
    assert version["items_table_version"] == embed_summary["table_version"]
    assert version["items"] == 400


def test_liked_genre_dominates_and_liked_items_are_excluded(client: httpx.Client, config: RecConfig) -> None:
    horror = items_of(config, "Horror")
    assert len(horror) >= 10, "the 400-item fixture catalogue should hold enough horror films"
    liked = [item["item_id"] for item in horror[:5]]
    events = [{"user_id": "horror-fan", "item_id": i, "type": "like"} for i in liked]
    reply = client.post("/events", json=events)
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == 5

    recs = client.get("/users/horror-fan/recommendations", params={"k": 10}).json()
    assert recs["strategy"] == "interest"
    assert len(recs["items"]) == 10
    returned = [item["item_id"] for item in recs["items"]]
    assert not set(returned) & set(liked)
    of_genre = sum("Horror" in item["categories"] for item in recs["items"])
    assert of_genre >= 6, f"only {of_genre}/10 horror: {[i['title'] for i in recs['items']]}"


def test_new_user_gets_popular_items(client: httpx.Client) -> None:
    recs = client.get("/users/someone-new/recommendations", params={"k": 5}).json()
    assert recs["strategy"] == "popular"
    scores = [item["score"] for item in recs["items"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 5
    assert recs["items"][0]["title"] == "Star Wars"  # the most rated film of ML-100k


def test_interest_follows_the_latest_events(client: httpx.Client, config: RecConfig) -> None:
    comedy = [i["item_id"] for i in items_of(config, "Comedy", without="Horror")[:6]]
    horror = [i["item_id"] for i in items_of(config, "Horror", without="Comedy")[:6]]
    user = "drifting-user"
    client.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in comedy]).raise_for_status()
    first = client.get(f"/users/{user}/recommendations").json()["items"]
    client.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in horror]).raise_for_status()
    after = client.get(f"/users/{user}/recommendations").json()["items"]
    horror_share = lambda items: sum("Horror" in i["categories"] for i in items)  # noqa: E731
    assert horror_share(after) > horror_share(first)


def test_resent_event_id_changes_nothing(client: httpx.Client) -> None:
    event = {"user_id": "idem", "item_id": "50", "type": "like", "event_id": "evt-1"}
    assert client.post("/events", json=event).json() == {"received": 1, "accepted": 1, "duplicates": 0}
    assert client.post("/events", json=event).json() == {"received": 1, "accepted": 0, "duplicates": 1}
    assert client.get("/users/idem/recommendations").json()["n_events"] == 1


def test_text_query_finds_matching_items(client: httpx.Client) -> None:
    recs = client.post("/recommendations/text", json={"text": "scary horror movie", "k": 10}).json()
    assert recs["strategy"] == "text"
    assert sum("Horror" in item["categories"] for item in recs["items"]) >= 5


def test_a_text_naming_two_interests_gets_both(client: httpx.Client) -> None:
    def text(query: str, k: int) -> list[str]:
        reply = client.post("/recommendations/text", json={"text": query, "k": k})
        assert reply.status_code == 200, reply.text
        return [item["item_id"] for item in reply.json()["items"]]

    # In this 400-item catalogue the whole text's own top-10 holds none of the
    # documentaries' best 20: each interest gets its turn only from the split.
    both = set(text("war films and documentaries", 10))
    for interest in ["war films", "documentaries"]:
        shown = len(set(text(interest, 20)) & both)
        assert shown >= 3, f"{interest!r}: {shown} of its best 20 in the answer"


def test_a_users_state_lists_their_recent_items_dislikes_and_stated_interest(client: httpx.Client) -> None:
    user = "state-reader"
    events = [{"user_id": user, "item_id": i, "type": t} for i, t in [("1", "like"), ("50", "like"), ("98", "dislike")]]
    client.post("/events", json=events).raise_for_status()
    client.put(f"/users/{user}/interests", json={"text": "space adventures"}).raise_for_status()
    state = client.get(f"/users/{user}").json()
    assert [i["item_id"] for i in state["recent"]] == ["50", "1"]  # latest first
    assert state["recent"][0]["title"] == "Star Wars"
    assert [i["item_id"] for i in state["disliked"]] == ["98"]
    assert state["n_events"] == 3 and state["stated_interest"] == "space adventures"
    empty = client.get("/users/nobody-yet").json()
    assert (empty["n_events"], empty["recent"], empty["disliked"], empty["stated_interest"]) == (0, [], [], "")
    assert client.get("/users/bad id!").status_code == 422


def test_similar_items(client: httpx.Client) -> None:
    recs = client.get("/items/1/similar", params={"k": 5}).json()
    assert len(recs["items"]) == 5
    assert "1" not in [item["item_id"] for item in recs["items"]]
    assert client.get("/items/99999/similar").status_code == 404


def test_category_filter_on_every_recommendation_route(client: httpx.Client, config: RecConfig) -> None:
    liked = [i["item_id"] for i in items_of(config, "Horror")[:3]]
    client.post("/events", json=[{"user_id": "filtering", "item_id": i, "type": "like"} for i in liked]).raise_for_status()
    answers = {
        "user": client.get("/users/filtering/recommendations", params={"category": ["Comedy", "Western"]}),
        "new user": client.get("/users/filter-new/recommendations", params={"category": ["Comedy", "Western"]}),
        "similar": client.get(f"/items/{liked[0]}/similar", params={"category": ["Comedy", "Western"]}),
        "text": client.post("/recommendations/text", json={"text": "scary", "categories": ["Comedy", "Western"]}),
    }
    for route, reply in answers.items():
        assert reply.status_code == 200, (route, reply.text)
        items = reply.json()["items"]
        assert len(items) == 10, route
        assert all({"Comedy", "Western"} & set(i["categories"]) for i in items), (route, items)


def test_year_range_on_every_recommendation_route(client: httpx.Client, config: RecConfig) -> None:
    liked = [i["item_id"] for i in items_of(config, "Horror")[:3]]
    client.post("/events", json=[{"user_id": "by-year", "item_id": i, "type": "like"} for i in liked]).raise_for_status()
    years = {"year_min": 1990, "year_max": 1994}
    answers = {
        "user": client.get("/users/by-year/recommendations", params=years),
        "new user": client.get("/users/by-year-new/recommendations", params=years),
        "similar": client.get(f"/items/{liked[0]}/similar", params=years),
        "text": client.post("/recommendations/text", json={"text": "scary", **years}),
    }
    for route, reply in answers.items():
        assert reply.status_code == 200, (route, reply.text)
        items = reply.json()["items"]
        assert len(items) == 10, route
        assert all(1990 <= i["year"] <= 1994 for i in items), (route, [i["year"] for i in items])
    unfiltered = client.get("/users/by-year/recommendations", params={"k": 100}).json()["items"]
    assert any(i["year"] < 1990 or i["year"] > 1994 for i in unfiltered)  # the filter is what kept them in range


@pytest.mark.parametrize(("params", "field"), [
    ({"year_min": 1995, "year_max": 1990}, "year_min"), ({"year_min": "ninety"}, "year_min"),
    ({"year_max": -1}, "year_max"),
])
def test_a_bad_year_range_is_a_422_that_names_it(client: httpx.Client, params: dict, field: str) -> None:
    for reply in (client.get("/users/by-year/recommendations", params=params),
                  client.post("/recommendations/text", json={"text": "scary", **params})):
        assert reply.status_code == 422 and field in reply.text, reply.text


@pytest.mark.parametrize("category", ["Comedy') OR TRUE --", "Drama\" OR 1=1", "../../etc", ""])
def test_unsafe_category_is_rejected_or_matches_nothing(client: httpx.Client, category: str) -> None:
    reply = client.get("/users/filtering/recommendations", params={"category": category})
    if reply.status_code == 200:  # a quote is allowed in names ("Children's"): escaped, so it matches nothing
        assert reply.json()["items"] == []
    else:
        assert reply.status_code == 422 and "category" in reply.text, reply.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"item_id": "1", "type": "like"}, "user_id"),
        ({"user_id": "u", "item_id": "1", "type": "love"}, "type"),
        ({"user_id": "u'; DROP TABLE items; --", "item_id": "1", "type": "like"}, "user_id"),
        ({"user_id": "u", "item_id": "../../etc/passwd", "type": "like"}, "item_id"),
        ({"user_id": "u", "item_id": "1", "type": "like", "timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_malformed_event_is_rejected_naming_the_field(
    client: httpx.Client, config: RecConfig, body: dict, field: str
) -> None:
    lines_before = _log_lines(config)
    reply = client.post("/events", json=body)
    assert reply.status_code == 422
    assert field in json.dumps(reply.json()["detail"])
    assert _log_lines(config) == lines_before


def test_unknown_item_is_rejected_and_nothing_is_written(client: httpx.Client, config: RecConfig) -> None:
    lines_before = _log_lines(config)
    batch = [
        {"user_id": "careful", "item_id": "1", "type": "like"},
        {"user_id": "careful", "item_id": "99999", "type": "like"},
    ]
    reply = client.post("/events", json=batch)
    assert reply.status_code == 422
    assert "99999" in reply.json()["detail"]
    assert _log_lines(config) == lines_before
    assert client.get("/users/careful/recommendations").json()["n_events"] == 0


def test_k_out_of_range_and_oversized_batch(client: httpx.Client, config: RecConfig) -> None:
    assert client.get("/users/u/recommendations", params={"k": 0}).status_code == 422
    too_big = client.get("/users/u/recommendations", params={"k": config.serve.max_k + 1})
    assert too_big.status_code == 422 and "k" in too_big.json()["detail"]
    batch = [{"user_id": "u", "item_id": "1", "type": "view"}] * (config.serve.max_events_per_request + 1)
    assert client.post("/events", json=batch).status_code == 413


def test_delete_user_forgets_state_and_logged_events(client: httpx.Client, config: RecConfig) -> None:
    events = [{"user_id": "leaving", "item_id": i, "type": "like"} for i in ("1", "2", "3")]
    client.post("/events", json=events).raise_for_status()
    assert client.get("/users/leaving/recommendations").json()["strategy"] == "interest"
    reply = client.delete("/users/leaving")
    assert reply.status_code == 200
    assert reply.json() == {"user_id": "leaving", "deleted_events": 3, "deleted_stated_interest": False}
    after = client.get("/users/leaving/recommendations").json()
    assert after["strategy"] == "popular" and after["n_events"] == 0
    logged = "".join(p.read_text() for p in Path(config.paths.event_log_dir).glob("*.jsonl"))
    assert '"leaving"' not in logged
    assert client.delete("/users/bad'id").status_code == 422


def test_explain_names_the_liked_items_behind_each_recommendation(either_client: tuple[str, httpx.Client], config: RecConfig) -> None:
    app, http = either_client
    user = f"explained-{app}"
    liked = [i["item_id"] for i in items_of(config, "Horror")[:3]] + [i["item_id"] for i in items_of(config, "Musical")[:3]]
    http.post("/events", json=[{"user_id": user, "item_id": i, "type": "like"} for i in liked]).raise_for_status()
    plain = http.get(f"/users/{user}/recommendations", params={"k": 10}).json()
    assert all(item["because"] is None for item in plain["items"])
    explained = http.get(f"/users/{user}/recommendations", params={"k": 10, "explain": "true"}).json()
    assert [i["item_id"] for i in explained["items"]] == [i["item_id"] for i in plain["items"]]  # same list
    titles = {i["item_id"]: i["title"] for i in items_of(config, "Horror") + items_of(config, "Musical")}
    reasons = [r for item in explained["items"] for r in item["because"]]
    assert sum(bool(item["because"]) for item in explained["items"]) >= 8
    for item in explained["items"]:
        assert len(item["because"]) <= 3
        assert [r["contribution"] for r in item["because"]] == sorted((r["contribution"] for r in item["because"]),
                                                                      reverse=True)
    assert all(r["item_id"] in liked and r["title"] == titles[r["item_id"]] and r["contribution"] > 0 for r in reasons)
    assert http.get(f"/users/{user}/recommendations", params={"explain": "maybe"}).status_code == 422


def test_pages_of_a_ranking_follow_on(client: httpx.Client, config: RecConfig) -> None:
    client.post("/events", json=[{"user_id": "pager", "item_id": i["item_id"], "type": "like"}
                                 for i in items_of(config, "Comedy")[:4]]).raise_for_status()
    ids = lambda answer: [i["item_id"] for i in answer["items"]]  # noqa: E731
    routes = [
        lambda **page: client.get("/users/pager/recommendations", params=page).json(),
        lambda **page: client.get("/items/1/similar", params=page).json(),
        lambda **page: client.post("/recommendations/text", json={"text": "a funny film", **page}).json(),
    ]
    for route in routes:
        whole = ids(route(k=20))
        assert ids(route(k=10)) + ids(route(k=10, offset=10)) == whole and len(whole) == 20
    reply = client.get("/users/pager/recommendations", params={"k": 10, "offset": config.serve.max_k})
    assert reply.status_code == 422 and "offset" in reply.json()["detail"]
    assert client.get("/users/pager/recommendations", params={"offset": -1}).status_code == 422


def test_diversity_spreads_a_list_and_is_validated(client: httpx.Client, config: RecConfig) -> None:
    client.post("/events", json=[{"user_id": "spreader", "item_id": i["item_id"], "type": "like"}
                                 for i in items_of(config, "Horror")[:5]]).raise_for_status()
    rows = lancedb.connect(config.paths.lancedb_uri).open_table("items").to_arrow().select(["item_id", "vector"])
    vectors = dict(zip(rows["item_id"].to_pylist(), np.asarray(rows["vector"].to_pylist())))

    def spread(diversity: float) -> float:
        items = client.get("/users/spreader/recommendations", params={"k": 10, "diversity": diversity}).json()["items"]
        matrix = np.stack([vectors[i["item_id"]] for i in items])
        return float(np.mean(1 - (matrix @ matrix.T)[np.triu_indices(10, 1)]))

    # MMR at 0.5 may only reorder a tight list (this catalogue's horror films): the spread never falls
    assert spread(0.0) <= spread(0.5) <= spread(1.0) and spread(0.0) < spread(1.0)
    default = client.get("/users/spreader/recommendations", params={"k": 10}).json()["items"]
    zero = client.get("/users/spreader/recommendations", params={"k": 10, "diversity": 0}).json()["items"]
    assert default == zero  # interest.diversity is 0
    assert client.get("/users/spreader/recommendations", params={"diversity": 1.5}).status_code == 422
    assert client.post("/recommendations/text", json={"text": "x", "diversity": -0.1}).status_code == 422


def test_explain_on_similar_and_text_says_what_each_item_answers(client: httpx.Client) -> None:
    toy_story = client.get("/items/1/similar", params={"k": 1}).json()  # any answer names the catalogue's titles
    similar = client.get("/items/1/similar", params={"k": 5, "explain": "true"}).json()["items"]
    assert toy_story["items"][0]["because"] is None and len(similar) == 5
    for item in similar:  # the query is item 1 alone: the whole score is its
        (because,) = item["because"]
        assert because["item_id"] == "1" and because["title"].startswith("Toy Story")
        assert because["contribution"] == pytest.approx(item["score"], abs=1e-4)
    one = client.post("/recommendations/text", json={"text": "scary monsters", "k": 5, "explain": True}).json()["items"]
    assert all(i["because"][0]["text"] == "scary monsters" for i in one)
    assert all(i["because"][0]["contribution"] == pytest.approx(i["score"], abs=1e-4) for i in one)
    two = client.post("/recommendations/text", json={"text": "war films and documentaries", "k": 10,
                                                      "explain": True}).json()["items"]  # split (the test above)
    answered = [i["because"][0]["text"] for i in two]
    assert set(answered) == {"war films", "documentaries"}, answered  # each item: the interest it came from
    assert all(b["contribution"] > 0 for i in two for b in i["because"])
