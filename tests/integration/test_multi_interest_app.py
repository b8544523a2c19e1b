"""Several interests per user over real HTTP: an app with the multi-interest merge on
(interest.multi_interests 3, per-event vector) against the session's app, where it is off.
A new user likes horror films and children's films in turn; with the merge both get places in the
list, without it one takes nearly all of them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import httpx
import pytest
import yaml
from ray import serve

from catalog_items import items_of
from rec.config import RecConfig

pytestmark = pytest.mark.ray

PAIR = ("Horror", "Children's")  # the 400-item fixture holds 17 musicals: too few once 5 are liked


@pytest.fixture(scope="module")
def merged_client(base_url: str, config_path: Path, rec_home: Path) -> Iterator[httpx.Client]:
    from serve.app import AppArgs, build_app

    raw = yaml.safe_load(config_path.read_text())
    raw["paths"]["event_log_dir"] = str(rec_home / "events-multi-interest-app")
    raw["interest"] = {"multi_interests": 3}
    path = rec_home / "test-multi-interest.yaml"
    path.write_text(yaml.safe_dump(raw))
    serve.run(build_app(AppArgs(config=str(path))), name="multi-interest", route_prefix="/mi")
    try:
        with httpx.Client(base_url=f"{base_url}/mi", timeout=60) as http:
            yield http
    finally:
        serve.delete("multi-interest")


def _shares(client: httpx.Client, user: str, liked: list[str], genres: dict[str, set[str]]) -> list[int]:
    events = [{"user_id": user, "item_id": item, "type": "like", "timestamp": 1.7e9 + 60 * n}
              for n, item in enumerate(liked)]
    client.post("/events", json=events).raise_for_status()
    answer = client.get(f"/users/{user}/recommendations", params={"k": 10}).raise_for_status().json()
    assert answer["strategy"] == "interest"
    return [sum(item["item_id"] in genres[g] for item in answer["items"]) for g in PAIR]


def test_a_user_with_two_interests_gets_both_only_with_the_merge(
    merged_client: httpx.Client, client: httpx.Client, config: RecConfig,
) -> None:
    a, b = (items_of(config, g, without=other) for g, other in (PAIR, PAIR[::-1]))
    genres = {g: {i["item_id"] for i in items_of(config, g)} for g in PAIR}
    liked = list(chain.from_iterable(zip([i["item_id"] for i in a[:5]], [i["item_id"] for i in b[:5]])))
    merged = _shares(merged_client, "two-interests", liked, genres)
    alone = _shares(client, "two-interests-unmerged", liked, genres)
    assert min(merged) >= 2, merged
    assert min(merged) > min(alone), (merged, alone)
