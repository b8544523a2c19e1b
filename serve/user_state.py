"""User shards: one stateful Serve deployment per shard of users."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ray import serve

from rec.config import RecConfig
from rec.registry import EncoderVersion
from rec.store import ItemStore
from rec.user_state import ApplyResult, IncomingEvent, UserProfile, UserShard


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
class UserShardDeployment:
    """Owns the users hashed to one shard: their log file and their states.

    Exactly one replica per shard. Its methods are async with no await inside,
    so the event loop runs them one at a time: a user's events are logged and
    applied in one order, whichever ingress replica sent them.
    """

    def __init__(self, shard: int, config: RecConfig, live: EncoderVersion) -> None:
        store = ItemStore(config.paths.lancedb_uri, live.items_table, live.items_table_version)
        self.state = UserShard(
            shard, config.serve.user_shards, config.paths.event_log_dir,
            store.dim, config.interest, store.vectors, config.serve.history_length,
        )

    async def apply(self, events: Sequence[IncomingEvent], vectors: dict[str, np.ndarray]) -> ApplyResult:
        return self.state.apply(events, vectors)

    async def profile(self, user_id: str) -> UserProfile:
        return self.state.profile(user_id)

    async def delete_user(self, user_id: str) -> int:
        return self.state.delete_user(user_id)
