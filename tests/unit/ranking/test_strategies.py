"""Tests for rec.ranking.strategies: how much the interest model's blend weighs text, and the focus that gates it."""

from __future__ import annotations

import numpy as np
import pytest

from rec.interest.profile import UserProfile
from rec.ranking.candidates import InMemoryItems
from rec.ranking.strategies import InterestModelStrategy, category_focus
from rec.storage.new_item_log import NewItem

X = np.array([1.0, 0.0], dtype=np.float32)


def _profile(positive_events: int, stated: np.ndarray | None) -> UserProfile:
    history = tuple(f"m{n}" for n in range(positive_events))
    return UserProfile("u", X, frozenset(history), history, (0.0,) * positive_events, positive_events, stated=stated)


@pytest.mark.parametrize(("events", "stated", "weight"), [
    (0, None, 0.5), (20, None, 0.25),  # text_blend, shrunk as 10 / events beyond 10
    (3, X, 0.5 + 2.0 * 0.5), (20, X, 0.25 + 2.0 * 0.5 ** (20 / 3)),  # plus the stated share x stated_weight
])
def test_the_blend_weight_adds_the_stated_share(events, stated, weight):
    strategy = InterestModelStrategy(queries=None, candidates=None, text_weight=0.5, blend_history=10,
                                     stated_weight=2.0, stated_half_life_events=3)
    assert strategy.blend_weight(_profile(events, stated)) == pytest.approx(weight)


def _catalog(categories: dict[str, tuple[str, ...]]) -> InMemoryItems:
    items = InMemoryItems(2)
    items.add([NewItem(i, i, categories=c) for i, c in categories.items()], np.tile(X, (len(categories), 1)))
    return items


CATALOG = _catalog({"h1": ("Horror",), "h2": ("Horror", "Sci-Fi"), "h3": ("Horror",), "c1": ("Comedy",),
                    "c2": ("Comedy",)})


def _history(items: tuple[str, ...], coefficients: tuple[float, ...]) -> UserProfile:
    return UserProfile("u", X, frozenset(items), items, (0.0,) * len(items), len(items),
                       recent_coefficients=coefficients)


@pytest.mark.parametrize(("items", "coefficients", "focus"), [
    (("h1", "h2", "h3"), (1.0, 1.0, 1.0), 1.0),  # every item is Horror
    (("h1", "c1", "c2"), (1.0, 1.0, 1.0), 2 / 3),  # Comedy leads
    (("h1", "h2", "h3", "c1", "c2"), (0.1, 0.1, 0.1, 1.0, 1.0), 2.0 / 2.3),  # the faded Horror run counts little
    (("h1", "h2"), (1.0, 1.0), 0.0),  # fewer than focus_min_events
    (("h1", "h2", "x"), (1.0, 1.0, 2.0), 0.5),  # an item without categories weighs in the total
])
def test_the_focus_is_the_largest_category_share_as_the_interest_vector_weighs_items(items, coefficients, focus):
    assert category_focus(_history(items, coefficients), CATALOG, min_events=3) == pytest.approx(focus)


def test_the_focus_gate_keeps_the_blend_for_a_focused_history_only():
    strategy = InterestModelStrategy(queries=None, candidates=None, text=CATALOG, text_weight=2.0,
                                     blend_focus=0.5, focus_min_events=3)
    assert strategy.blend_weight(_history(("h1", "h2", "h3"), (1.0, 1.0, 1.0))) == pytest.approx(2.0)
    # focus 0.75: halfway from 0.5 to 1
    assert strategy.blend_weight(_history(("h1", "h2", "h3", "c1"), (1.0,) * 4)) == pytest.approx(1.0)
    assert strategy.blend_weight(_history(("h1", "c1", "x", "y"), (1.0,) * 4)) == 0.0
