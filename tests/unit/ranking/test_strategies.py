"""Tests for rec.ranking.strategies: how much the interest model's blend weighs text."""

from __future__ import annotations

import numpy as np
import pytest

from rec.interest.shard import UserProfile
from rec.ranking.strategies import InterestModelStrategy

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
