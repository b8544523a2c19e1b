"""The query encoder deployment: free text to a vector, batched across requests."""

from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np
from ray import serve

from rec.config import EncoderConfig, QueryEncoderConfig
from rec.encoding.encoder import TextEncoder
from rec.registry.encoders import EncoderVersion

log = logging.getLogger(__name__)


@serve.deployment  # resources: serve.query_encoder, set in serve/app.py
class QueryEncoder:
    """Embeds with the encoder version each request names (at most two loaded);
    concurrent requests share one forward pass per version."""

    def __init__(self, config: EncoderConfig, batching: QueryEncoderConfig, max_versions: int = 2) -> None:
        self.config, self.max_versions = config, max_versions
        self.encoders: OrderedDict[str, TextEncoder] = OrderedDict()  # least recently used first
        self.embed.set_max_batch_size(batching.max_batch_size)
        self.embed.set_batch_wait_timeout_s(batching.batch_wait_timeout_s)

    def _encoder(self, live: EncoderVersion) -> TextEncoder:
        encoder = self.encoders.get(live.tag)
        if encoder is None:
            encoder = self.encoders[live.tag] = TextEncoder(live.model_dir, self.config)
            while len(self.encoders) > self.max_versions:
                dropped, _ = self.encoders.popitem(last=False)
                log.info("query encoder: unloaded %s", dropped)
        self.encoders.move_to_end(live.tag)
        return encoder

    async def prepare(self, live: EncoderVersion) -> None:
        """Load `live`'s weights now, so the first query after a swap does not wait for them."""
        self._encoder(live)

    async def encode_texts(self, texts: list[str], live: EncoderVersion) -> np.ndarray:
        """(N, D) unit vectors of item texts: the same TextEncoder, weights and EncoderConfig
        as the embed job's actors, so the same vectors as the nightly run for the same text."""
        return self._encoder(live).encode(texts)

    @serve.batch  # sizes from serve.query_encoder, set in __init__
    async def embed(self, texts: list[str], versions: list[EncoderVersion]) -> list[np.ndarray]:
        """(D,) unit vectors, each made by the encoder version named beside its text."""
        vectors: list[np.ndarray | None] = [None] * len(texts)
        for tag in dict.fromkeys(v.tag for v in versions):  # one forward pass per version
            rows = [i for i, v in enumerate(versions) if v.tag == tag]
            encoded = self._encoder(versions[rows[0]]).encode([texts[i] for i in rows])
            for i, vector in zip(rows, encoded):
                vectors[i] = vector
        return vectors
