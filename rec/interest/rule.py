"""A user's interest vector and its per-event update rule.

The state is an unnormalised accumulator `a` (D,) of item vectors. For an
event of type t on an item with unit vector v at time s, after a previous
event at time s0:

    decay = 0.5 ** (1 / half_life_events) * 0.5 ** (max(s - s0, 0) / half_life_seconds)
    a     = decay * a + weight[t] * v

so every event makes older ones count less (interest drifts), a long pause
fades them further, and negative weights (dislike, skip) push the vector
away from an item. The query vector is a / |a|. One update is O(D).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from rec.config import InterestConfig

_EPS = 1e-8
MAX_RECENT_NEGATIVES = 20  # the dislikes and skips a ranking looks at


@dataclass
class InterestState:
    """One user's interest: the accumulator and what it was built from."""

    accumulator: np.ndarray  # (D,) float64
    last_timestamp: float | None = None
    n_events: int = 0
    n_positive: int = 0
    seen_items: set[str] = field(default_factory=set)
    # The latest positive events, oldest first: the interest model's input.
    recent_items: list[str] = field(default_factory=list)
    recent_timestamps: list[float] = field(default_factory=list)
    # Each one's event weight, and the log of all decay before it (`log_decay` then), so
    # that what it makes of the accumulator now is weight * exp(log_decay - mark): see
    # recent_coefficients. O(1) per event, however long the history.
    recent_weights: list[float] = field(default_factory=list)
    recent_marks: list[float] = field(default_factory=list)
    log_decay: float = 0.0  # log of the product of every decay so far
    # The latest negative events (dislike, skip), oldest first: what the ranking pushes away from.
    recent_negatives: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, dim: int) -> "InterestState":
        return cls(accumulator=np.zeros(dim, dtype=np.float64))


def decay_factor(previous: float | None, now: float, config: InterestConfig) -> float:
    """How much of the old interest survives one more event at time `now`."""
    return math.exp(log_decay_factor(previous, now, config))


def log_decay_factor(previous: float | None, now: float, config: InterestConfig) -> float:
    """The log of decay_factor, finite however long the pause (the factor itself underflows to 0)."""
    halvings = 1.0 / config.half_life_events
    if previous is not None:
        elapsed = max(now - previous, 0.0)  # events are applied in log order; clock skew never grows it
        halvings += elapsed / config.half_life_seconds
    return -halvings * math.log(2.0)


def apply_event(
    state: InterestState,
    item_id: str,
    item_vector: np.ndarray,
    event_type: str,
    timestamp: float,
    config: InterestConfig,
    recent_limit: int = 200,
) -> None:
    """Fold one event into `state`, in place."""
    item_id = sys.intern(item_id)  # one string per item across every user's history, not one per event
    weight = config.event_weights[event_type]
    log_decay = log_decay_factor(state.last_timestamp, timestamp, config)
    state.accumulator *= math.exp(log_decay)
    state.accumulator += weight * np.asarray(item_vector, dtype=np.float64)
    state.log_decay += log_decay
    state.last_timestamp = timestamp if state.last_timestamp is None else max(state.last_timestamp, timestamp)
    state.n_events += 1
    state.n_positive += weight > 0
    state.seen_items.add(item_id)
    if weight > 0:
        state.recent_items.append(item_id)
        state.recent_timestamps.append(timestamp)
        state.recent_weights.append(weight)
        state.recent_marks.append(state.log_decay)
        del state.recent_items[:-recent_limit], state.recent_timestamps[:-recent_limit]
        del state.recent_weights[:-recent_limit], state.recent_marks[:-recent_limit]
    elif weight < 0:
        state.recent_negatives.append(item_id)
        del state.recent_negatives[:-MAX_RECENT_NEGATIVES]


def recent_coefficients(state: InterestState) -> list[float]:
    """What each recent positive event makes of the accumulator now: a = sum(c_j * v_j) over
    them, plus what older and negative events left (so a - c_j * v_j is `a` without event j)."""
    return [w * math.exp(state.log_decay - mark) for w, mark in zip(state.recent_weights, state.recent_marks)]


def query_vector(state: InterestState) -> np.ndarray | None:
    """The unit interest vector (D,) float32, or None when there is no positive interest."""
    norm = float(np.linalg.norm(state.accumulator))
    if state.n_positive == 0 or norm < _EPS:
        return None
    return (state.accumulator / norm).astype(np.float32)
