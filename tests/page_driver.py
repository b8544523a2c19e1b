"""The demo page (GET /) in headless Chromium, driven by Playwright: for the browser test and
scripts/bench_page.py. Debian's Chromium (apt-get install chromium; `make test` installs it),
not Playwright's own download, which this network cannot reach."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

# Without the background-networking flags Chromium keeps opening connections that a closed
# network refuses; as root it needs --no-sandbox.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("no Chromium on PATH: `apt-get install chromium` (make test installs it)")
    return path


@contextmanager
def page_at(url: str) -> Iterator[Page]:
    """The page at `url` in a fresh headless Chromium, after its first list has loaded."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_function("Number(document.body.dataset.updates ?? 0) >= 1")
            yield page
        finally:
            browser.close()


def updates(page: Page) -> int:
    """How many updates the page has finished (each a click or a submitted form)."""
    return int(page.evaluate("Number(document.body.dataset.updates ?? 0)"))


def after_update(page: Page, action) -> float:
    """Run `action` (a click, a submit) and wait until the page has updated its list; the
    page's own milliseconds from the click to the updated list."""
    before = updates(page)
    action()
    page.wait_for_function(f"Number(document.body.dataset.updates ?? 0) > {before}")
    error = page.text_content("#error")
    if error:
        raise AssertionError(f"the page shows an error: {error}")
    return float(page.evaluate("Number(document.body.dataset.lastUpdateMs)"))


def listed(page: Page) -> list[dict]:
    """The list shown: each item's id and categories, in order."""
    return page.eval_on_selector_all(
        "#list li", "items => items.map(li => ({item_id: li.dataset.itemId, categories: li.dataset.categories.split('|')}))")


def like(page: Page, item_id: str) -> float:
    return after_update(page, lambda: page.click(f'#list li[data-item-id="{item_id}"] button.like'))


def search_text(page: Page, text: str) -> float:
    page.fill("#text", text)
    return after_update(page, lambda: page.click("#text-form button[type=submit]"))


def show_user(page: Page, user_id: str) -> float:
    page.fill("#user", user_id)
    return after_update(page, lambda: page.click("#user-form button[type=submit]"))
