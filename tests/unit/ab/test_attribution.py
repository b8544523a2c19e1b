from rec.ab.attribution import attribute
from rec.storage.event_log import LoggedEvent
from rec.storage.impressions import Impression

CLICKS, CONVERSIONS = ("click", "like", "purchase"), ("purchase",)


def _shown(request_id: str, user: str | None, items: tuple[str, ...], at: float, offset: int = 0,
           route: str = "user") -> Impression:
    return Impression(request_id, user, route, "champion", "m/1", items, offset, at)


def _event(user: str, item: str, at: float, type_: str = "click", request_id: str | None = None) -> LoggedEvent:
    return LoggedEvent(f"e-{user}-{item}-{at}", user, item, type_, at, at, request_id)


def _outcomes(impressions, events, window: float = 60.0):
    return [(o.clicked, o.converted, o.next_item_hit) for o in attribute(impressions, events, window, CLICKS,
                                                                         CONVERSIONS)]


def test_an_event_counts_on_the_latest_answer_that_showed_its_item_within_the_window() -> None:
    impressions = [_shown("r1", "u", ("a", "b"), 100.0), _shown("r2", "u", ("b", "c"), 110.0)]
    # (clicked, converted, next event in the top 10): the event is the next one of both answers
    assert _outcomes(impressions, [_event("u", "b", 120.0)]) == [(False, False, True), (True, False, True)]
    assert _outcomes(impressions, [_event("u", "a", 120.0)]) == [(True, False, True), (False, False, False)]
    assert _outcomes(impressions, [_event("u", "a", 200.0)]) == [(False, False, None), (False, False, None)]
    assert _outcomes(impressions, [_event("v", "b", 120.0)]) == [(False, False, None), (False, False, None)]
    assert _outcomes(impressions, [_event("u", "b", 90.0)]) == [(False, False, None), (False, False, None)]


def test_a_request_id_decides_even_for_an_item_not_shown_but_only_for_its_user() -> None:
    impressions = [_shown("r1", "u", ("a",), 100.0), _shown("r2", "u", ("b",), 110.0),
                   _shown("t1", None, ("x",), 105.0, route="text")]
    assert _outcomes(impressions, [_event("u", "z", 120.0, "purchase", "r1")])[0] == (True, True, False)
    assert _outcomes(impressions, [_event("w", "a", 120.0, "click", "r1")])[0] == (False, False, None)
    assert _outcomes(impressions, [_event("w", "x", 120.0, "click", "t1")])[2] == (True, False, None)
    assert _outcomes(impressions, [_event("u", "a", 120.0, "click", "gone")])[0] == (False, False, True)


def test_views_and_dislikes_are_not_clicks_and_a_conversion_is_counted() -> None:
    impressions = [_shown("r1", "u", ("a", "b"), 100.0)]
    assert _outcomes(impressions, [_event("u", "a", 101.0, "view"), _event("u", "b", 102.0, "dislike")]) == [
        (False, False, None)]
    assert _outcomes(impressions, [_event("u", "a", 101.0, "purchase")]) == [(True, True, True)]


def test_the_next_event_is_a_hit_only_within_the_top_ten() -> None:
    items = tuple(str(n) for n in range(12))
    first, deep = _shown("r1", "u", items, 100.0), _shown("r2", "u", items, 100.0, offset=10)
    assert _outcomes([first], [_event("u", "9", 101.0)]) == [(True, False, True)]
    assert _outcomes([first], [_event("u", "10", 101.0)]) == [(True, False, False)]
    assert _outcomes([deep], [_event("u", "0", 101.0)])[0][2] is False  # the second page holds no top 10
    # only the next event counts: a later hit does not turn a miss into a hit
    assert _outcomes([first], [_event("u", "x", 101.0), _event("u", "1", 102.0)]) == [(True, False, False)]
