"""The query encoder deployment: free text to a vector, batched across requests."""

from __future__ import annotations

import numpy as np
from ray import serve

from rec.config import EncoderConfig
from rec.encoder import TextEncoder


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
class QueryEncoder:
    """Loads the live encoder version; concurrent requests share one forward pass."""

    def __init__(self, model_dir: str, config: EncoderConfig) -> None:
        self.encoder = TextEncoder(model_dir, config)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def embed(self, texts: list[str]) -> list[np.ndarray]:
        return list(self.encoder.encode(texts))
