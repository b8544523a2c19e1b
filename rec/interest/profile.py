"""What ranking reads of a user: the profile a shard makes of the user's interest state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rec.interest.rule import InterestState, query_vector, recent_coefficients


@dataclass(frozen=True)
class UserProfile:
    """What recommending for a user needs from its state."""

    user_id: str
    interest: np.ndarray | None  # (D,) unit vector, None = no positive interest
    seen_items: frozenset[str]
    recent_items: tuple[str, ...]  # latest positive events, oldest first
    recent_timestamps: tuple[float, ...]
    n_events: int
    encoder_version: str = ""  # the vector space `interest` is in
    recent_negatives: tuple[str, ...] = ()  # latest dislikes and skips, oldest first
    stated_text: str = ""  # what the user said they like ("" = nothing)
    # Its unit vector (D,) in `encoder_version`'s space: set by whoever holds that encoder
    # (the ingress), None until then. `interest` is behaviour alone; the pipeline blends them.
    stated: np.ndarray | None = None
    # The unnormalised interest is interest_norm * interest, of which each recent item makes
    # recent_coefficients[j] * its vector (rec/interest/rule.py): what explanations remove.
    interest_norm: float = 0.0
    recent_coefficients: tuple[float, ...] = ()


def user_profile(
    user_id: str, state: InterestState | None, encoder_version: str = "", stated_text: str = "",
) -> UserProfile:
    """What ranking reads of a user's state (an empty profile for None: a new user)."""
    if state is None:
        return UserProfile(user_id, None, frozenset(), (), (), 0, encoder_version, stated_text=stated_text)
    return UserProfile(
        user_id, query_vector(state), frozenset(state.seen_items),
        tuple(state.recent_items), tuple(state.recent_timestamps), state.n_events, encoder_version,
        tuple(state.recent_negatives), stated_text,
        interest_norm=float(np.linalg.norm(state.accumulator)),
        recent_coefficients=tuple(recent_coefficients(state)),
    )
