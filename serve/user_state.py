"""User shards: one stateful Serve deployment per shard of users, and the router
that sends each call to the shard owning the user."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import partial

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from rec.config import RecConfig
from rec.storage.new_item_vectors import NewItemVectorTable, ItemVectorLookup
from rec.storage.new_item_log import NewItemLog
from rec.registry.encoders import EncoderVersion, resolve_encoder
from rec.storage.items_table import ItemStore, check_vector_space
from rec.interest.profile import UserProfile
from rec.interest.shard import ApplyResult, IncomingEvent, UserForgotten, UserShard, shard_of
from rec.storage.stated_interests import StatedInterest
from serve.coalesce import Coalescer, runs_of
from serve.metrics import shard_rebuild_histogram

log = logging.getLogger(__name__)


@serve.deployment  # resources: serve.user_shard, set in serve/app.py
class UserShardDeployment:
    """Owns the users hashed to one shard: their log file and their states.

    Exactly one replica per shard. Its methods are async with no await inside,
    so the event loop runs them one at a time: a user's events are logged and
    applied in one order, whichever ingress replica sent them.

    States are kept per encoder version (at most two): every call names the
    version the caller serves, and a version not held yet is rebuilt from the
    log first. The live version is not an init arg, so redeploying after an
    encoder change does not restart (and rebuild) the shards.
    """

    def __init__(self, shard: int, config: RecConfig) -> None:
        self.config = config
        self.stores: dict[str, ItemStore] = {}  # item vectors of each version held
        self.item_log = NewItemLog(config.paths.new_items_dir)  # items added live
        self.state = UserShard(
            shard, config.serve.user_shards, config.paths.event_log_dir,
            config=config.interest, history_length=config.history_length,
            snapshot_dir=config.paths.snapshot_dir, snapshot_every=config.serve.snapshot_every_events,
        )
        self.shard, self.rebuild_s = shard, shard_rebuild_histogram()

    def _hold(self, live: EncoderVersion | None) -> str:
        """Make sure the states of `live` are held (None = the most recent, else the
        champion); returns its tag."""
        if live is None:
            if self.state.spaces:
                return next(reversed(self.state.spaces))
            live = resolve_encoder(self.config.encoder, self.config.paths)
        store = self.stores.get(live.tag)
        if store is not None and self.state.holds(live.tag) and store.version >= (live.items_table_version or 0):
            return live.tag
        store = ItemStore(self.config.paths.lancedb_uri, live.items_table, live.items_table_version)
        check_vector_space(store, live.tag)
        new_items = NewItemVectorTable(self.config.paths.lancedb_uri, live.items_table, live.tag)
        started = time.perf_counter()
        self.state.prepare(live.tag, store.dim, ItemVectorLookup(store, new_items, self.item_log, self.config.catalog))
        self.rebuild_s.observe(time.perf_counter() - started, tags={"shard": str(self.shard)})
        self.stores[live.tag] = store
        self.stores = {tag: held for tag, held in self.stores.items() if self.state.holds(tag)}
        return live.tag

    async def prepare(self, live: EncoderVersion) -> int:
        """Rebuild the states of `live` from the log (if not held yet); returns the users held."""
        tag = self._hold(live)
        return len(self.state.spaces[tag].states)

    async def apply_requests(
        self, requests: Sequence[Sequence[IncomingEvent]], vectors: dict[str, np.ndarray],
        live: EncoderVersion | None = None,
    ) -> list[ApplyResult]:
        """Log the events of several requests (the ingress coalesces them) with one fsync and
        fold them into every version held; `vectors` are `live`'s. Answers each request."""
        return self.state.apply_requests(requests, vectors, self._hold(live))

    async def profile(self, user_id: str, live: EncoderVersion | None = None) -> UserProfile:
        """The user's state in `live`'s vector space; the profile names the version."""
        return self.state.profile(user_id, self._hold(live))

    async def profiles(self, user_ids: Sequence[str], live: EncoderVersion | None = None) -> list[UserProfile]:
        tag = self._hold(live)
        return [self.state.profile(user_id, tag) for user_id in user_ids]

    async def state_interest(self, user_id: str, text: str) -> StatedInterest:
        """Log the user's stated interest durably and hold it ("" clears it)."""
        return self.state.state_interest(user_id, text)

    async def stated_text(self, user_id: str) -> str:
        return self.state.stated_text(user_id)

    async def delete_user(self, user_id: str) -> UserForgotten:
        return self.state.delete_user(user_id)

    async def started_from(self) -> dict:
        """How this replica got its states: the snapshot it resumed from (None: the whole
        log) and the events it replayed."""
        return self.state.started_from


class UserShards:
    """The user shards as one: each call goes to the shard that owns the user.

    Events and profiles are coalesced per shard (serve/coalesce.py): the asks made while
    a call to the shard is on its way go in its next call, so under load one hop, and for
    events one fsync, serves many requests. An ask is sent after every earlier one, so an
    acknowledged event is in every profile asked for after its ack (read your writes)."""

    def __init__(self, handles: Sequence[DeploymentHandle]) -> None:
        self.handles = list(handles)
        self._events = [Coalescer(partial(_send_events, h)) for h in self.handles]
        self._profiles = [Coalescer(partial(_send_profiles, h)) for h in self.handles]

    def __len__(self) -> int:
        return len(self.handles)

    def of(self, user_id: str) -> DeploymentHandle:
        return self.handles[shard_of(user_id, len(self.handles))]

    async def apply(
        self, events: Sequence[IncomingEvent], vectors: dict[str, np.ndarray], live: EncoderVersion,
    ) -> ApplyResult:
        """Each shard logs and applies its users' events (in parallel); the results summed."""
        by_shard: dict[int, list[IncomingEvent]] = defaultdict(list)
        for event in events:
            by_shard[shard_of(event.user_id, len(self.handles))].append(event)
        results = await asyncio.gather(*(
            self._events[shard].ask((batch, {e.item_id: vectors[e.item_id] for e in batch}, live))
            for shard, batch in by_shard.items()
        ))
        return ApplyResult(sum(r.accepted for r in results), sum(r.duplicates for r in results))

    async def profile(self, user_id: str, live: EncoderVersion) -> UserProfile:
        return await self._profiles[shard_of(user_id, len(self.handles))].ask((user_id, live))

    async def state_interest(self, user_id: str, text: str) -> StatedInterest:
        return await self.of(user_id).state_interest.remote(user_id, text)

    async def stated_text(self, user_id: str) -> str:
        return await self.of(user_id).stated_text.remote(user_id)

    async def delete_user(self, user_id: str) -> UserForgotten:
        return await self.of(user_id).delete_user.remote(user_id)

    async def prepare(self, live: EncoderVersion) -> None:
        """Every shard holds `live`'s user states (rebuilt from the log if it did not)."""
        await asyncio.gather(*(shard.prepare.remote(live) for shard in self.handles))


async def _send_events(shard: DeploymentHandle, asks: list[tuple]) -> list[ApplyResult]:
    """One call per run of asks for one encoder version (all of them, but during a swap)."""
    results: list[ApplyResult] = []
    for run in runs_of(asks, lambda ask: (ask[2].tag, ask[2].items_table_version)):
        vectors = {item: vector for _, found, _ in run for item, vector in found.items()}
        results += await shard.apply_requests.remote([events for events, _, _ in run], vectors, run[0][2])
    return results


async def _send_profiles(shard: DeploymentHandle, asks: list[tuple[str, EncoderVersion]]) -> list[UserProfile]:
    profiles: list[UserProfile] = []
    for run in runs_of(asks, lambda ask: (ask[1].tag, ask[1].items_table_version)):
        profiles += await shard.profiles.remote([user_id for user_id, _ in run], run[0][1])
    return profiles
