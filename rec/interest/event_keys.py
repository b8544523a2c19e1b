"""The (user, event_id) pairs a shard has logged, kept to refuse a resent event.

Each pair is kept as a 64-bit hash, with its user's hash beside it (so a deleted
user's pairs can go): 16 bytes an event in two sorted numpy arrays, which a
snapshot saves and loads as they are, instead of one Python tuple an event. A
new event is refused by mistake only when its hash equals one of the n kept:
a chance of n / 2**64 (5e-13 at ten million events).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def key_hash(user_id: str, event_id: str) -> int:
    """The hash a (user, event_id) pair is kept as."""
    return _hash(f"{user_id}\x00{event_id}")


def user_hash(user_id: str) -> int:
    return _hash(user_id)


class EventKeys:
    """A set of (user, event_id) pairs, by hash: a sorted base (from a snapshot or a
    rebuild) and the pairs added since, which `compact` merges into it."""

    def __init__(self, keys: np.ndarray | None = None, users: np.ndarray | None = None) -> None:
        keys = np.zeros(0, np.uint64) if keys is None else np.asarray(keys, np.uint64)
        users = np.zeros(0, np.uint64) if users is None else np.asarray(users, np.uint64)
        order = np.argsort(keys, kind="stable")
        self.keys, self.users = keys[order], users[order]
        self.added: dict[int, int] = {}  # key hash -> user hash, since the base was made

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> EventKeys:
        """The set of (user_id, event_id) `pairs`."""
        hashes = [(key_hash(u, e), user_hash(u)) for u, e in pairs]
        array = np.array(hashes, np.uint64).reshape(-1, 2)
        return cls(array[:, 0], array[:, 1])

    def __contains__(self, key: int) -> bool:
        if key in self.added:
            return True
        at = int(np.searchsorted(self.keys, np.uint64(key)))
        return at < len(self.keys) and int(self.keys[at]) == key

    def __len__(self) -> int:
        return len(self.keys) + len(self.added)

    def add(self, user_id: str, event_id: str) -> None:
        self.added[key_hash(user_id, event_id)] = user_hash(user_id)

    def remove_user(self, user_id: str) -> None:
        gone = user_hash(user_id)
        kept = self.users != np.uint64(gone)
        self.keys, self.users = self.keys[kept], self.users[kept]
        self.added = {k: u for k, u in self.added.items() if u != gone}

    def compact(self) -> tuple[np.ndarray, np.ndarray]:
        """Merge the pairs added into the sorted base; returns its (keys, users) arrays."""
        if self.added:
            added = np.array(list(self.added.items()), np.uint64).reshape(-1, 2)
            merged = EventKeys(np.concatenate([self.keys, added[:, 0]]), np.concatenate([self.users, added[:, 1]]))
            self.keys, self.users, self.added = merged.keys, merged.users, {}
        return self.keys, self.users
