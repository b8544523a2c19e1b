"""The users of one shard: their interest states, kept in step with the log.

Users are hashed onto shards; one shard is one single-threaded owner of its
users, so concurrent events for a user are applied in log order and never
race (no lost updates). States are a cache: a shard rebuilds them from the
event log when it starts.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rec.config import InterestConfig
from rec.event_log import EventLogWriter, LoggedEvent, read_all_logs, shard_log_path
from rec.interest import InterestState, apply_event, query_vector

log = logging.getLogger(__name__)

VectorLookup = Callable[[Sequence[str]], dict[str, np.ndarray]]


def shard_of(user_id: str, n_shards: int) -> int:
    """The shard that owns `user_id` (stable across processes and restarts)."""
    return zlib.crc32(user_id.encode()) % n_shards


@dataclass(frozen=True)
class IncomingEvent:
    """A validated event on its way into the log."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    timestamp: float


@dataclass(frozen=True)
class UserProfile:
    """What recommending for a user needs from its state."""

    user_id: str
    interest: np.ndarray | None  # (D,) unit vector, None = no positive interest
    seen_items: frozenset[str]
    recent_items: tuple[str, ...]  # latest positive events, oldest first
    recent_timestamps: tuple[float, ...]
    n_events: int


@dataclass(frozen=True)
class ApplyResult:
    accepted: int
    duplicates: int


class UserShard:
    """Interest states of the users that hash to one shard."""

    def __init__(
        self, shard: int, n_shards: int, log_dir: str | Path, dim: int,
        config: InterestConfig, lookup: VectorLookup, history_length: int = 200,
    ) -> None:
        self.shard, self.n_shards, self.dim, self.config = shard, n_shards, dim, config
        self.history_length = history_length
        self.states: dict[str, InterestState] = {}
        self.event_keys: set[tuple[str, str]] = set()
        self._rebuild(log_dir, lookup)
        self.writer = EventLogWriter(shard_log_path(log_dir, shard))

    def _rebuild(self, log_dir: str | Path, lookup: VectorLookup) -> None:
        started = time.perf_counter()
        events = [e for e in read_all_logs(log_dir) if shard_of(e.user_id, self.n_shards) == self.shard]
        vectors = lookup(sorted({e.item_id for e in events})) if events else {}
        for event in events:
            self._apply_one(event, vectors)
        log.info(
            "shard %d: rebuilt %d users from %d events in %.2fs",
            self.shard, len(self.states), len(events), time.perf_counter() - started,
        )

    def _apply_one(self, event: LoggedEvent | IncomingEvent, vectors: dict[str, np.ndarray]) -> None:
        self.event_keys.add((event.user_id, event.event_id))
        vector = vectors.get(event.item_id)
        if vector is None:  # item left the catalogue since it was logged
            return
        state = self.states.get(event.user_id) or self.states.setdefault(
            event.user_id, InterestState.empty(self.dim)
        )
        apply_event(state, event.item_id, vector, event.type, event.timestamp, self.config, self.history_length)

    def apply(self, events: Sequence[IncomingEvent], vectors: dict[str, np.ndarray]) -> ApplyResult:
        """Log new events durably, then fold them into the states.

        Events already seen (same user and event_id) are skipped, so a client
        may safely resend a batch whose ack it never received.
        """
        fresh, keys = [], set()
        for event in events:
            key = (event.user_id, event.event_id)
            if key not in self.event_keys and key not in keys:
                keys.add(key)
                fresh.append(event)
        now = time.time()
        logged = [LoggedEvent(e.event_id, e.user_id, e.item_id, e.type, e.timestamp, now) for e in fresh]
        self.writer.append(logged)  # durable before any state changes or ack
        for event in logged:
            self._apply_one(event, vectors)
        return ApplyResult(accepted=len(fresh), duplicates=len(events) - len(fresh))

    def profile(self, user_id: str) -> UserProfile:
        """The user's interest and history (empty for an unknown user)."""
        state = self.states.get(user_id)
        if state is None:
            return UserProfile(user_id, None, frozenset(), (), (), 0)
        return UserProfile(
            user_id, query_vector(state), frozenset(state.seen_items),
            tuple(state.recent_items), tuple(state.recent_timestamps), state.n_events,
        )

    def delete_user(self, user_id: str) -> int:
        """Forget a user: their events leave this shard's log and their state is dropped.

        Returns how many logged events were removed. (Events written under an
        earlier shard count, in other shards' files, are not touched.)
        """
        removed = self.writer.remove_user(user_id)
        self.states.pop(user_id, None)
        self.event_keys = {key for key in self.event_keys if key[0] != user_id}
        return removed

    def close(self) -> None:
        self.writer.close()
