"""Which variant answers a user: a stable hash of the user id, so a user stays in one
variant for as long as the share and the salt stay the same."""

from __future__ import annotations

import hashlib

CHAMPION, CHALLENGER = "champion", "challenger"
VARIANTS = (CHAMPION, CHALLENGER)


def bucket(user_id: str, salt: str) -> float:
    """The user's place in [0, 1): uniform over users, the same on every replica and restart
    (sha256, not Python's hash(), which is salted per process)."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def variant_of(user_id: str | None, challenger_share: float, salt: str) -> str:
    """`challenger` for the users whose bucket falls below the share, else `champion`;
    an anonymous request (no user) is the champion's."""
    if user_id is None or challenger_share <= 0:
        return CHAMPION
    return CHALLENGER if bucket(user_id, salt) < challenger_share else CHAMPION
