"""Stated interests' vectors, made by the live encoder when a profile is read.

The shard keeps a stated interest as text; here it becomes a vector in the
space of the encoder version the request is answered in, so after an encoder
change it is embedded again by the new one (invariant 1), never mixed. Vectors
are cached per (encoder version, text) in each ingress replica.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import numpy as np
from ray.serve.handle import DeploymentHandle

from rec.interest.profile import UserProfile
from rec.registry.encoders import EncoderVersion


class StatedVectors:
    """Embeds stated interests with the query encoder; least recently used dropped first."""

    def __init__(self, query_encoder: DeploymentHandle, max_entries: int = 10_000) -> None:
        self.query_encoder, self.max_entries = query_encoder, max_entries
        self.cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    async def vector(self, text: str, live: EncoderVersion) -> np.ndarray:
        """The unit vector (D,) of `text` by `live`'s encoder."""
        key = (live.tag, text)
        vector = self.cache.get(key)
        if vector is None:
            vector = self.cache[key] = await self.query_encoder.embed.remote(text, live)
            while len(self.cache) > self.max_entries:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        return vector

    async def attach(self, profile: UserProfile, live: EncoderVersion) -> UserProfile:
        """The profile with its stated interest's vector in `live`'s space (as is without one)."""
        if not profile.stated_text:
            return profile
        return replace(profile, stated=await self.vector(profile.stated_text, live))
