"""Which impression an event is a click or conversion on.

An event counts on the impression whose `request_id` it carries; without one, on the
latest impression shown to the same user that held the event's item, at most
`window_s` before the event was logged. Each event counts on at most one impression.
Times are the server's (served_at, logged_at), so a client's clock never moves an
event in or out of the window.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rec.storage.event_log import LoggedEvent
from rec.storage.impressions import Impression

HR_DEPTH = 10  # next-event hit rate counts the first 10 positions


@dataclass(frozen=True)
class Outcome:
    """What followed one impression."""

    impression: Impression
    clicked: bool
    converted: bool
    next_item_hit: bool | None  # the user's next positive event was on an item in its top 10; None: no next event


def attribute(
    impressions: Sequence[Impression], events: Sequence[LoggedEvent], window_s: float,
    click_types: Collection[str], conversion_types: Collection[str],
) -> list[Outcome]:
    """The outcome of each impression (in the order given) from the events logged after it."""
    by_request = {imp.request_id: n for n, imp in enumerate(impressions)}
    shown_to: dict[str, list[int]] = defaultdict(list)  # user -> their impressions, served_at ascending
    for n in sorted(range(len(impressions)), key=lambda n: impressions[n].served_at):
        if impressions[n].user_id is not None:
            shown_to[impressions[n].user_id].append(n)
    served_at = {user: [impressions[n].served_at for n in its] for user, its in shown_to.items()}
    clicked, converted = set(), set()
    next_hit: dict[int, bool] = {}
    positive = set(click_types) | set(conversion_types)
    for event in sorted(events, key=lambda e: e.logged_at):
        if event.type not in positive:
            continue
        # the user's impressions served by the time the event was logged
        its = shown_to.get(event.user_id, [])
        served = its[:bisect.bisect_right(served_at.get(event.user_id, []), event.logged_at)]
        _settle_next_events(impressions, served, event, window_s, next_hit)
        target = _impression_of(impressions, by_request, served, event, window_s)
        if target is None:
            continue
        if event.type in click_types:
            clicked.add(target)
        if event.type in conversion_types:
            converted.add(target)
    return [Outcome(imp, n in clicked, n in converted, next_hit.get(n)) for n, imp in enumerate(impressions)]


def _impression_of(
    impressions: Sequence[Impression], by_request: dict[str, int], served: list[int],
    event: LoggedEvent, window_s: float,
) -> int | None:
    if event.request_id is not None:
        n = by_request.get(event.request_id)
        shown = None if n is None else impressions[n]
        if shown is not None and shown.user_id in (None, event.user_id) and shown.served_at <= event.logged_at:
            return n
        return None
    for n in reversed(served):
        if event.logged_at - impressions[n].served_at > window_s:
            return None
        if event.item_id in impressions[n].items:
            return n
    return None


def _settle_next_events(
    impressions: Sequence[Impression], served: list[int], event: LoggedEvent, window_s: float,
    next_hit: dict[int, bool],
) -> None:
    """`event` is the next positive event of each of the user's earlier impressions not yet
    followed by one (within the window): a hit where the impression's top 10 held its item."""
    for n in reversed(served):
        shown = impressions[n]
        if n in next_hit:
            break  # this one and every earlier one already had their next event
        if event.logged_at - shown.served_at > window_s:
            break
        if shown.route == "user":
            top = shown.items[:max(0, HR_DEPTH - shown.offset)]
            next_hit[n] = event.item_id in top

