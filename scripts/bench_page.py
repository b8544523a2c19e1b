"""The demo page's time from a click to the updated list, in headless Chromium against a
running service (`make demo`), and the README's screenshots.

    PYTHONPATH=.:tests .venv/bin/python scripts/bench_page.py [--url http://127.0.0.1:8000] \
        [--clicks 20] [--screenshots docs/screenshots]

A new user searches "monsters, ghosts and haunted houses", then likes the first horror film
of whatever the list shows, `--clicks` times (searching again when it shows none). Each click posts the event
and reads the user's state and recommendations again (three API calls, as the page makes
them); the page times each from the click to the redrawn list. Prints the median and 90th
percentile of those, and the share of horror in the list before and after.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from page_driver import like, listed, page_at, search_text, show_user


QUERY = "monsters, ghosts and haunted houses"


def first_horror(items: list[dict], liked: set[str]) -> dict | None:
    return next((i for i in items if "Horror" in i["categories"] and i["item_id"] not in liked), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running service")
    parser.add_argument("--clicks", type=int, default=20, help="likes to time")
    parser.add_argument("--screenshots", type=Path, default=None, help="save the screenshots here")
    args = parser.parse_args()
    horror = lambda items: sum("Horror" in i["categories"] for i in items)  # noqa: E731
    shot = (lambda page, name: page.screenshot(path=str(args.screenshots / name), full_page=True)) \
        if args.screenshots else (lambda page, name: None)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with page_at(f"{args.url}/") as page:
        shot(page, "demo-user.png")
        show_user(page, f"bench-page-{int(time.time())}")
        before = listed(page)
        search_text(page, QUERY)
        shot(page, "free-text.png")
        timings, liked = [], set()
        for click in range(args.clicks):
            item = first_horror(listed(page), liked)
            if item is None:  # none in the list: search again, as a user would (not timed)
                search_text(page, QUERY)
                item = first_horror(listed(page), liked)
            timings.append(like(page, item["item_id"]))
            liked.add(item["item_id"])
            if click == 9:
                shot(page, "after-ten-likes.png")
        after = listed(page)
    print("| clicks | click to updated list, p50 | p90 | horror in the top-10 before | after |")
    print("|---|---|---|---|---|")
    print(f"| {len(timings)} | {np.median(timings):.0f} ms | {np.percentile(timings, 90):.0f} ms | "
          f"{horror(before)}/10 | {horror(after)}/10 |")
    print(json.dumps({"job": "bench_page", "clicks": len(timings), "p50_ms": round(float(np.median(timings)), 1),
                      "p90_ms": round(float(np.percentile(timings, 90)), 1)}))


if __name__ == "__main__":
    main()
