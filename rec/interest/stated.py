"""A stated interest ("horror films with monsters") in the ranking: it answers for a
new user at once, and gives way to what they do as they act.

The profile's interest becomes the unit blend s * stated + (1 - s) * behaviour, with
the stated share s = 0.5 ** (positive events / half_life_events): 1 before the first
positive event, a half after half_life_events of them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rec.interest.profile import UserProfile


def stated_share(profile: UserProfile, half_life_events: float) -> float:
    """How much of the profile's interest its stated interest makes (0 without one)."""
    if profile.stated is None:
        return 0.0
    return 0.5 ** (len(profile.recent_items) / half_life_events)


def with_stated_interest(profile: UserProfile, half_life_events: float) -> UserProfile:
    """The profile whose interest blends in its stated interest (unchanged without one)."""
    if profile.stated is None:
        return profile
    share = stated_share(profile, half_life_events)
    stated = np.asarray(profile.stated, dtype=np.float64)
    behaviour = profile.interest
    blend = stated if behaviour is None else share * stated + (1.0 - share) * np.asarray(behaviour, np.float64)
    norm = float(np.linalg.norm(blend))
    if norm < 1e-8:  # behaviour exactly opposite the statement: behaviour wins
        return profile
    return replace(profile, interest=(blend / norm).astype(np.float32))
