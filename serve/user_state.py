"""User shards: one stateful Serve deployment per shard of users."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from ray import serve

from rec.config import RecConfig
from rec.storage.new_item_vectors import NewItemVectorTable, ItemVectorLookup
from rec.storage.new_item_log import NewItemLog, new_items_log_path
from rec.registry.encoders import EncoderVersion, resolve_encoder
from rec.storage.items_table import ItemStore, check_vector_space
from rec.interest.shard import ApplyResult, IncomingEvent, UserProfile, UserShard

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
        self.item_log = NewItemLog(new_items_log_path(config.paths.new_items_dir))  # items added live
        self.state = UserShard(
            shard, config.serve.user_shards, config.paths.event_log_dir,
            config=config.interest, history_length=config.history_length,
        )

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
        self.state.prepare(live.tag, store.dim, ItemVectorLookup(store, new_items, self.item_log, self.config.catalog))
        self.stores[live.tag] = store
        self.stores = {tag: held for tag, held in self.stores.items() if self.state.holds(tag)}
        return live.tag

    async def prepare(self, live: EncoderVersion) -> int:
        """Rebuild the states of `live` from the log (if not held yet); returns the users held."""
        tag = self._hold(live)
        return len(self.state.spaces[tag].states)

    async def apply(
        self, events: Sequence[IncomingEvent], vectors: dict[str, np.ndarray], live: EncoderVersion | None = None,
    ) -> ApplyResult:
        """Log the events once and fold them into every version held; `vectors` are `live`'s."""
        return self.state.apply(events, vectors, self._hold(live))

    async def profile(self, user_id: str, live: EncoderVersion | None = None) -> UserProfile:
        """The user's state in `live`'s vector space; the profile names the version."""
        return self.state.profile(user_id, self._hold(live))

    async def delete_user(self, user_id: str) -> int:
        return self.state.delete_user(user_id)
