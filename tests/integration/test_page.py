"""The demo page (GET /) in a real browser against the running Serve app: likes move the list
towards what was liked, free text answers, and screenshots are saved."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright", reason="the browser test needs `pip install -e .[test]`")
from page_driver import like, listed, page_at, search_text, show_user  # noqa: E402

pytestmark = pytest.mark.ray


def _for_children(items: list[dict]) -> int:
    return sum(bool({"Children's", "Animation"} & set(item["categories"])) for item in items)


def test_the_page_follows_likes_and_free_text(base_url: str, client: httpx.Client, tmp_path: Path) -> None:
    shots = Path(os.environ.get("REC_SCREENSHOT_DIR", tmp_path))  # docs/screenshots for the README
    shots.mkdir(parents=True, exist_ok=True)
    assert "text/html" in client.get("/").headers["content-type"]
    with page_at(f"{base_url}/") as page:
        show_user(page, "page-visitor")
        first = listed(page)
        assert len(first) == 10 and page.get_attribute("#list", "data-strategy") == "popular"
        page.screenshot(path=str(shots / "1-new-user.png"), full_page=True)

        search_text(page, "cartoons for kids")
        assert _for_children(listed(page)) >= 5
        page.screenshot(path=str(shots / "2-free-text.png"), full_page=True)

        liked = []
        for _ in range(5):  # like the first children's film in whatever the list shows now
            item = next(i for i in listed(page) if _for_children([i]) and i["item_id"] not in liked)
            like(page, item["item_id"])
            liked.append(item["item_id"])
        after = listed(page)
        assert page.get_attribute("#list", "data-strategy") == "interest"
        assert _for_children(after) >= max(4, _for_children(first) + 3), page.inner_text("#list")
        assert not {i["item_id"] for i in after} & set(liked)  # what was liked leaves the list
        recent = page.eval_on_selector_all("#recent li", "items => items.length")
        assert recent == 5
        assert "because you liked" in page.text_content("#list")
        page.screenshot(path=str(shots / "3-after-five-likes.png"), full_page=True)

    state = client.get("/users/page-visitor").json()  # the page's clicks went through the public API
    assert [i["item_id"] for i in state["recent"]] == liked[::-1]
