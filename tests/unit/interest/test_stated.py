"""Tests for rec.interest.stated: the stated share and the blended interest."""

from __future__ import annotations

import numpy as np
import pytest

from rec.interest.profile import UserProfile
from rec.interest.stated import stated_share, with_stated_interest

X, Y = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)


def _profile(behaviour, stated, positive_events: int) -> UserProfile:
    history = tuple(f"m{n}" for n in range(positive_events))
    return UserProfile("u", behaviour, frozenset(history), history, (0.0,) * positive_events, positive_events,
                       stated=stated)


@pytest.mark.parametrize(("events", "share"), [(0, 1.0), (3, 0.5), (6, 0.25)])
def test_the_stated_share_halves_every_half_life_of_positive_events(events, share):
    assert stated_share(_profile(Y, X, events), half_life_events=3) == pytest.approx(share)
    assert stated_share(_profile(Y, None, events), half_life_events=3) == 0.0


def test_the_blend_is_a_unit_vector_between_statement_and_behaviour():
    blended = with_stated_interest(_profile(Y, X, 3), half_life_events=3).interest
    assert np.linalg.norm(blended) == pytest.approx(1.0)
    assert blended == pytest.approx(np.array([1.0, 1.0]) / np.sqrt(2.0))
    assert with_stated_interest(_profile(None, X, 0), 3).interest == pytest.approx(X)
    unchanged = _profile(Y, None, 2)
    assert with_stated_interest(unchanged, 3) is unchanged


def test_behaviour_opposite_the_statement_wins_rather_than_a_zero_vector():
    profile = _profile(-X, X, 3)
    assert with_stated_interest(profile, 3).interest == pytest.approx(-X)
