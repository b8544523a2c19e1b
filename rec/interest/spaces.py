"""A shard's user states in one encoder version's vector space, and how they are folded
from logged events (in log order) with that encoder's item vectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rec.config import InterestConfig
from rec.interest.rule import InterestState, apply_event
from rec.storage.event_log import LoggedEvent

VectorLookup = Callable[[Sequence[str]], dict[str, np.ndarray]]


@dataclass
class VectorSpace:
    """A shard's user states in one encoder version's vector space."""

    encoder_version: str
    dim: int
    lookup: VectorLookup  # item vectors of this encoder version
    states: dict[str, InterestState] = field(default_factory=dict)


def fold_event(
    states: dict[str, InterestState], event: LoggedEvent, vectors: dict[str, np.ndarray],
    dim: int, config: InterestConfig, history_length: int,
) -> None:
    """Fold one event into its user's state in `states`, in place."""
    vector = vectors.get(event.item_id)
    if vector is None:  # item left the catalogue since it was logged
        return
    state = states.get(event.user_id) or states.setdefault(event.user_id, InterestState.empty(dim))
    apply_event(state, event.item_id, vector, event.type, event.timestamp, config, history_length)


def rebuild_states(
    events: Sequence[LoggedEvent], lookup: VectorLookup, dim: int,
    config: InterestConfig, history_length: int = 200, states: dict[str, InterestState] | None = None,
) -> dict[str, InterestState]:
    """Users' states from their logged events (in log order), with one encoder's item vectors;
    with `states` (a snapshot's), the events after them are folded into them."""
    vectors = lookup(sorted({e.item_id for e in events})) if events else {}
    states = {} if states is None else states
    for event in events:
        fold_event(states, event, vectors, dim, config, history_length)
    return states
