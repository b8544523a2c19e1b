"""The users of one shard: their interest states, kept in step with the log.

Users are hashed onto shards; one shard is one single-threaded owner of its
users, so concurrent events for a user are applied in log order and never
race (no lost updates). States are a cache: a shard rebuilds them from the
event log when it starts.

States live in a vector space: the item vectors of one encoder version. A
shard can hold its users' states in two spaces at once (the live encoder and
the next one being rolled out, or the previous one kept for stragglers): an
event is logged once and folded into every space held, each with its own
item vectors, so a profile is always computed in the one space it was asked
for (invariant 1).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rec.config import InterestConfig
from rec.interest.event_keys import EventKeys, key_hash
from rec.interest.snapshot import KEEP, ShardSnapshots, fingerprint, paused_gc
from rec.storage.event_log import EventLogWriter, LoggedEvent, read_all_logs
from rec.storage.stated_interests import StatedInterest, StatedInterestLog, read_stated_interests
from rec.interest.profile import UserProfile, user_profile
from rec.interest.rule import InterestState
from rec.interest.spaces import VectorLookup, VectorSpace, fold_event, rebuild_states

log = logging.getLogger(__name__)

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
    request_id: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    accepted: int
    duplicates: int


@dataclass(frozen=True)
class UserForgotten:
    """What deleting a user removed."""

    events: int  # logged events
    stated_interest: bool  # whether they had one


@dataclass
class Resume:
    """Where the shard's first `prepare` starts: a snapshot's states (or none, `from_empty`:
    every space starts empty) and the shard's events logged after them."""

    states: dict[str, dict[str, InterestState]]
    events: list[LoggedEvent]
    from_empty: bool = False

    def states_of(self, encoder_version: str) -> dict[str, InterestState] | None:
        return self.states.pop(encoder_version, None) if not self.from_empty else {}


class UserShard:
    """Interest states of the users that hash to one shard, in up to `max_versions` vector spaces.

    Given `lookup` (and `dim`), the shard starts holding the space
    `encoder_version`; without, it holds none until `prepare` is called. With a
    `snapshot_dir` (rec/interest/snapshot.py), it starts from the latest usable snapshot
    there and replays only its log after it, and writes a new one every
    `snapshot_every` events logged (0: never) and after each deletion.
    """

    def __init__(
        self, shard: int, n_shards: int, log_dir: str | Path, dim: int | None = None,
        config: InterestConfig | None = None, lookup: VectorLookup | None = None,
        history_length: int = 200, encoder_version: str = "", max_versions: int = 2,
        snapshot_dir: str | Path | None = None, snapshot_every: int = 0,
    ) -> None:
        self.shard, self.n_shards, self.log_dir = shard, n_shards, log_dir
        if config is None:
            raise TypeError("UserShard needs config: the project config's interest section")
        self.config = config
        self.history_length, self.max_versions = history_length, max_versions
        # Least recently used first; every space holds every user of the shard.
        self.spaces: OrderedDict[str, VectorSpace] = OrderedDict()
        self.snapshots = None if snapshot_dir is None else ShardSnapshots(
            snapshot_dir, shard, n_shards, fingerprint(config, history_length), snapshot_every)
        self.writer = EventLogWriter(log_dir, shard)
        with paused_gc():  # it makes an object or more for every event and user
            self.resume, self.event_keys = self._start()
        if lookup is not None:
            self.prepare(encoder_version, dim, lookup)
        # Stated interests are text, the same in every vector space: held once.
        self.stated: dict[str, StatedInterest] = {
            user: stated for user, stated in read_stated_interests(log_dir).items()
            if shard_of(user, n_shards) == shard
        }
        self.stated_log = StatedInterestLog(log_dir, shard)

    def _own_events(self) -> list[LoggedEvent]:
        return [e for e in read_all_logs(self.log_dir) if shard_of(e.user_id, self.n_shards) == self.shard]

    def _start(self) -> tuple[Resume, EventKeys]:
        """From the latest usable snapshot and the log after it, else from the whole log."""
        snapshot = self.snapshots.latest(self.writer.log) if self.snapshots else None
        if snapshot is None:
            events = self._own_events()
            self.started_from = {"snapshot": None, "events_replayed": len(events)}
            return Resume({}, events, from_empty=True), EventKeys.of((e.user_id, e.event_id) for e in events)
        events = [e for e in self.writer.read(snapshot.position) if shard_of(e.user_id, self.n_shards) == self.shard]
        for event in events:
            snapshot.keys.add(event.user_id, event.event_id)
        self.started_from = {"snapshot": self.snapshots.sequence, "events_replayed": len(events)}
        log.info("shard %d: resuming from snapshot %d (at %d in its log) and %d events after it",
                 self.shard, self.snapshots.sequence, snapshot.position.offset, len(events))
        return Resume(snapshot.spaces, events), snapshot.keys

    @property
    def states(self) -> dict[str, InterestState]:
        """The states in the most recently used space ({} when none is held)."""
        return next(reversed(self.spaces.values())).states if self.spaces else {}

    def holds(self, encoder_version: str) -> bool:
        return encoder_version in self.spaces

    def prepare(
        self, encoder_version: str, dim: int, lookup: VectorLookup, events: Sequence[LoggedEvent] | None = None,
    ) -> None:
        """Hold the users' states in `encoder_version`'s space, rebuilt from the log (the first
        time, from where the shard started: a snapshot and the events after it).

        A space already held only takes the new lookup (same encoder, so the
        same vectors). Beyond `max_versions`, the least recently used space
        is dropped.
        """
        held = self.spaces.get(encoder_version)
        if held is not None:
            held.lookup = lookup
            self.spaces.move_to_end(encoder_version)
            return
        started = time.perf_counter()
        resume, self.resume = self.resume, None  # good for the first prepare only: events are logged after it
        base = resume.states_of(encoder_version) if resume is not None and events is None else None
        if base is not None:
            events = resume.events
        elif events is None:
            events = self._own_events()
        with paused_gc():
            states = rebuild_states(events, lookup, dim, self.config, self.history_length, base)
        self.spaces[encoder_version] = VectorSpace(encoder_version, dim, lookup, states)
        while len(self.spaces) > self.max_versions:
            dropped, _ = self.spaces.popitem(last=False)
            log.info("shard %d: dropped the user states of %s", self.shard, dropped)
        log.info(
            "shard %d: rebuilt %d users in %s from %d events in %.2fs",
            self.shard, len(states), encoder_version or "the vector space", len(events),
            time.perf_counter() - started,
        )

    def _space(self, encoder_version: str | None) -> VectorSpace | None:
        """The space asked for (None = the most recently used), marked as just used."""
        if encoder_version is None:
            return next(reversed(self.spaces.values())) if self.spaces else None
        space = self.spaces.get(encoder_version)
        if space is None:
            raise KeyError(f"shard {self.shard} holds no user states of {encoder_version}: prepare it first")
        self.spaces.move_to_end(encoder_version)
        return space

    def apply(
        self, events: Sequence[IncomingEvent], vectors: dict[str, np.ndarray], encoder_version: str | None = None,
    ) -> ApplyResult:
        """Log new events durably, then fold them into the states of every space held.

        `vectors` are the items' vectors in `encoder_version`'s space (None =
        the most recently used one); other spaces look theirs up. Events
        already seen (same user and event_id) are skipped, so a client may
        safely resend a batch whose ack it never received.
        """
        return self.apply_requests([events], vectors, encoder_version)[0]

    def apply_requests(
        self, requests: Sequence[Sequence[IncomingEvent]], vectors: dict[str, np.ndarray],
        encoder_version: str | None = None,
    ) -> list[ApplyResult]:
        """`apply` of several requests' events in order, with one append (group commit: one
        fsync for all of them); an event_id a request repeats from an earlier one is its duplicate."""
        unseen, accepted, keys = [], [], set()
        for events in requests:
            before = len(unseen)
            for event in events:
                key = key_hash(event.user_id, event.event_id)
                if key not in self.event_keys and key not in keys:
                    keys.add(key)
                    unseen.append(event)
            accepted.append(len(unseen) - before)
        # Everything that can fail happens before the append: once an event is
        # logged, every space held takes it.
        target = self._space(encoder_version)
        item_ids = sorted({e.item_id for e in unseen})
        space_vectors = [
            (space, vectors if space is target else space.lookup(item_ids) if item_ids else {})
            for space in self.spaces.values()
        ]
        now = time.time()
        logged = [LoggedEvent(e.event_id, e.user_id, e.item_id, e.type, e.timestamp, now, e.request_id)
                  for e in unseen]
        self.writer.append(logged)  # durable before any state changes or ack
        self.resume = None
        for event in logged:
            self.event_keys.add(event.user_id, event.event_id)
        for space, found in space_vectors:
            for event in logged:
                fold_event(space.states, event, found, space.dim, self.config, self.history_length)
        if self.snapshots is not None and self.snapshots.due(len(logged)):
            self.snapshot()
        return [ApplyResult(n, len(events) - n) for n, events in zip(accepted, requests)]

    def profile(self, user_id: str, encoder_version: str | None = None) -> UserProfile:
        """The user's interest and history in one space (None = the most recently
        used); empty for an unknown user."""
        space = self._space(encoder_version)
        tag = space.encoder_version if space else (encoder_version or "")
        return user_profile(user_id, space.states.get(user_id) if space else None, tag, self.stated_text(user_id))

    def stated_text(self, user_id: str) -> str:
        """What the user stated they like ("" = nothing)."""
        stated = self.stated.get(user_id)
        return stated.text if stated else ""

    def state_interest(self, user_id: str, text: str) -> StatedInterest:
        """Log the user's stated interest durably, then hold it; "" clears it."""
        stated = StatedInterest(user_id, text, time.time())
        self.stated_log.append(stated)  # durable before it is held or acked
        if text:
            self.stated[user_id] = stated
        else:
            self.stated.pop(user_id, None)
        return stated

    def delete_user(self, user_id: str) -> UserForgotten:
        """Forget a user: their events and stated interest leave this shard's logs and their
        state is dropped. (Lines written under an earlier shard count, in other shards'
        logs, are not touched.)

        The snapshots that hold the user go first, so a crash at any point leaves none of
        them to resume from (a stream's positions survive the deletion, unlike a file's);
        one without the user is written once their events are gone."""
        known = not self.spaces or any(user_id in space.states for space in self.spaces.values())
        if self.snapshots is not None and known:
            self.snapshots.remove_all()
        removed = self.writer.remove_user(user_id)
        had_stated = self.stated.pop(user_id, None) is not None
        self.stated_log.remove_user(user_id)
        for space in self.spaces.values():
            space.states.pop(user_id, None)
        self.event_keys.remove_user(user_id)
        self.resume = None
        if self.snapshots is not None and known:
            self.snapshot(keep=1)  # none when no space is held: the next start rebuilds from the log
        return UserForgotten(removed, had_stated)

    def snapshot(self, keep: int = KEEP) -> str | None:
        """Write a snapshot of every space held, keeping the last `keep`; its name in the folder
        (none is written when no space is held: there is nothing to resume)."""
        if self.snapshots is None or not self.spaces:
            return None
        return self.snapshots.write({tag: space.states for tag, space in self.spaces.items()},
                                    self.event_keys, self.writer.log, keep)

    def close(self) -> None:
        self.writer.close()
        self.stated_log.close()
