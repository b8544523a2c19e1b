"""Tests for rec.interest.rule: decay math, negative events, the unit query vector."""

from __future__ import annotations

import numpy as np
import pytest

from base_config import BASE, changed
from rec.interest.rule import InterestState, apply_event, decay_factor, query_vector, recent_coefficients

E1 = np.array([1.0, 0.0, 0.0], dtype=np.float32)
E2 = np.array([0.0, 1.0, 0.0], dtype=np.float32)
E3 = np.array([0.0, 0.0, 1.0], dtype=np.float32)
# Halves per event and every 100 s: easy to follow by hand.
HALF = changed(BASE.interest, half_life_events=1, half_life_seconds=100)
DEFAULT = BASE.interest
W = DEFAULT.event_weights


def test_decay_per_event_only_on_first_event():
    assert decay_factor(None, 123.0, HALF) == pytest.approx(0.5)
    assert decay_factor(None, 0.0, DEFAULT) == pytest.approx(0.5 ** (1 / 5))


def test_decay_with_elapsed_time():
    assert decay_factor(10.0, 10.0, HALF) == pytest.approx(0.5)  # same instant: per-event decay only
    assert decay_factor(0.0, 100.0, HALF) == pytest.approx(0.25)  # one time half-life more
    assert decay_factor(0.0, 200.0, HALF) == pytest.approx(0.125)
    assert decay_factor(0.0, 50.0, HALF) == pytest.approx(0.5 * 0.5**0.5)


def test_decay_clamps_negative_elapsed():
    assert decay_factor(100.0, 50.0, HALF) == pytest.approx(0.5)
    assert decay_factor(100.0, 50.0, HALF) <= 0.5 + 1e-12


def test_accumulator_hand_computed():
    state = InterestState.empty(3)
    apply_event(state, "a", E1, "like", 0.0, HALF)  # a = 0.5*0 + 2*e1
    np.testing.assert_allclose(state.accumulator, [2.0, 0.0, 0.0])
    apply_event(state, "b", E2, "click", 100.0, HALF)  # a = 0.25*a + 1*e2
    np.testing.assert_allclose(state.accumulator, [0.5, 1.0, 0.0])
    apply_event(state, "a", E1, "view", 100.0, HALF)  # a = 0.5*a + 0.5*e1
    np.testing.assert_allclose(state.accumulator, [0.75, 0.5, 0.0])
    assert state.accumulator.dtype == np.float64
    assert state.n_events == 3
    assert state.n_positive == 3
    assert state.last_timestamp == 100.0
    assert state.seen_items == {"a", "b"}
    assert state.recent_items == ["a", "b", "a"]


def test_out_of_order_timestamp_does_not_add_weight():
    state = InterestState.empty(3)
    apply_event(state, "a", E1, "like", 100.0, HALF)
    apply_event(state, "b", E2, "like", 50.0, HALF)  # 50 s in the past: decay 0.5, not 0.5*2**0.5
    np.testing.assert_allclose(state.accumulator, [1.0, 2.0, 0.0])
    assert state.last_timestamp == 100.0  # the clock never goes back
    apply_event(state, "c", E3, "like", 200.0, HALF)  # elapsed 100 from t=100, not 150 from t=50
    np.testing.assert_allclose(state.accumulator, [0.25, 0.5, 2.0])


def test_like_then_dislike_moves_away_from_disliked_item():
    liked = E1
    disliked = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    state = InterestState.empty(3)
    apply_event(state, "liked", liked, "like", 0.0, DEFAULT)
    before = float(query_vector(state) @ disliked)
    apply_event(state, "disliked", disliked, "dislike", 1.0, DEFAULT)
    after_q = query_vector(state)
    assert after_q is not None
    assert float(after_q @ disliked) < before
    assert float(after_q @ liked) > 0  # still leans towards the liked item
    assert state.n_positive == 1
    assert "disliked" in state.seen_items


def test_only_negative_events_give_no_query():
    state = InterestState.empty(3)
    assert query_vector(state) is None
    apply_event(state, "a", E1, "dislike", 0.0, DEFAULT)
    apply_event(state, "b", E2, "skip", 1.0, DEFAULT)
    assert state.n_events == 2 and state.n_positive == 0
    assert query_vector(state) is None


def test_zero_accumulator_gives_no_query():
    config = changed(BASE.interest, event_weights=dict(W) | {"view": 0.0})
    state = InterestState.empty(3)
    apply_event(state, "a", E1, "view", 0.0, config)
    assert query_vector(state) is None


def test_query_vector_unit_norm_float32():
    rng = np.random.default_rng(0)
    state = InterestState.empty(16)
    for i, event_type in enumerate(["view", "click", "like", "purchase", "skip", "add_to_cart"]):
        vector = rng.normal(size=16)
        apply_event(state, f"i{i}", vector / np.linalg.norm(vector), event_type, float(i * 60), DEFAULT)
    q = query_vector(state)
    assert q is not None
    assert q.dtype == np.float32
    assert q.shape == (16,)
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(q, state.accumulator / np.linalg.norm(state.accumulator), rtol=1e-6)


def test_recent_items_capped():
    state = InterestState.empty(3)
    for i in range(7):
        apply_event(state, f"i{i}", E1, "view", float(i), DEFAULT, recent_limit=3)
    assert state.recent_items == ["i4", "i5", "i6"]
    assert len(state.seen_items) == 7


def test_unknown_event_type_raises():
    with pytest.raises(KeyError):
        apply_event(InterestState.empty(3), "a", E1, "share", 0.0, DEFAULT)


def test_the_recent_coefficients_decompose_the_accumulator():
    rng = np.random.default_rng(3)
    vectors = {f"m{i}": v / np.linalg.norm(v) for i, v in enumerate(rng.normal(size=(6, 3)))}
    state, now = InterestState.empty(3), 1000.0
    events = [("m0", "like"), ("m1", "click"), ("m2", "dislike"), ("m3", "like"), ("m1", "purchase"), ("m4", "view")]
    for item, kind in events:
        now += float(rng.uniform(0, 5000))
        apply_event(state, item, vectors[item], kind, now, DEFAULT)
    coefficients = recent_coefficients(state)
    positive = sum(c * vectors[i] for c, i in zip(coefficients, state.recent_items))
    # What is left is the dislike alone: a negative multiple of its vector.
    left = state.accumulator - positive
    share = float(left @ vectors["m2"])
    assert share < 0
    np.testing.assert_allclose(left, share * vectors["m2"], atol=1e-9)
    assert len(coefficients) == 5 and coefficients[-1] == W["view"]  # the last event is not decayed yet


def test_a_pause_far_longer_than_the_half_life_leaves_finite_coefficients():
    state = InterestState.empty(3)
    apply_event(state, "m0", E1, "like", 0.0, HALF)
    apply_event(state, "m1", E2, "like", 1e9, HALF)  # 0.5 ** 1e7: the factor underflows to 0
    assert recent_coefficients(state) == [0.0, W["like"]]
    assert query_vector(state) == pytest.approx(E2)
