"""The interest model as a query maker: a user's recent history -> one query vector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rec.interest.model import InterestEvolutionModel, load_model
from rec.registry.interest_models import read_item_ids

PREFETCH_LIMIT = 1024  # prefetched queries kept at most (one a request that failed never took)


class ModelQueries:
    """Recent history -> the model -> a query vector (D,) for the model's scoring vectors."""

    def __init__(self, model: InterestEvolutionModel, item_ids: Sequence[str]) -> None:
        self.model = model
        with torch.no_grad():
            self.item_table = model.item_table()  # (N, D): fixed while serving, computed once
        self.index = {item_id: i for i, item_id in enumerate(item_ids)}
        self._prefetched: dict[tuple, np.ndarray | None] = {}

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> ModelQueries:
        """The model saved in `model_dir` with the item ids it was trained on."""
        return cls(load_model(model_dir), read_item_ids(model_dir))

    @property
    def dim(self) -> int:
        """D of the scoring vectors (d, or d + 1 with the item bias)."""
        return int(self.item_table.shape[1])

    def knows(self, item_id: str) -> bool:
        """Whether the item is in the model's own item table (and its scoring table)."""
        return item_id in self.index

    def project_text(self, text_vectors: np.ndarray) -> np.ndarray:
        """Scoring vectors (M, D) of items the model has never seen, from their text vectors
        (M, E) of the live encoder: the model's cold-item path (text projection + text bias,
        plus its ``new_item_boost``), exactly as the scoring table has them for its cold items."""
        return self.model.new_item_vectors(text_vectors)

    def query_vector(self, recent_items: Sequence[str], recent_timestamps: Sequence[float]) -> np.ndarray | None:
        """(D,) query vector, or None when no item of the history is known to the model.

        Items the model has no index for (new items added live, or catalogue items newer
        than the model) are left out of the history: the model reads item indices, so it
        cannot take their projected vectors as input. They are still candidates.
        """
        key = (tuple(recent_items), tuple(recent_timestamps))
        if key in self._prefetched:
            return self._prefetched.pop(key)
        return self.query_vectors([(recent_items, recent_timestamps)])[0]

    def prefetch(self, histories: Sequence[tuple[Sequence[str], Sequence[float]]]) -> None:
        """query_vectors of these histories in one batched pass, each kept for the one
        query_vector call that asks for it next: the service computes the queries of its
        concurrent requests together (a pass of 8 costs about 2 of 1)."""
        for (items, times), vector in zip(histories, self.query_vectors(histories)):
            self._prefetched[(tuple(items), tuple(times))] = vector
        while len(self._prefetched) > PREFETCH_LIMIT:
            del self._prefetched[next(iter(self._prefetched))]

    def query_vectors(
        self, histories: Sequence[tuple[Sequence[str], Sequence[float]]],
    ) -> list[np.ndarray | None]:
        """query_vector of each (recent items, their timestamps), in one batched forward pass."""
        known = [[(self.index[i], t) for i, t in zip(items, times) if i in self.index] for items, times in histories]
        rows = [n for n, history in enumerate(known) if history]
        out: list[np.ndarray | None] = [None] * len(histories)
        if rows:
            items = [np.asarray([i for i, _ in known[n]]) for n in rows]
            times = [np.asarray([t for _, t in known[n]], dtype=np.float64) for n in rows]
            for n, vector in zip(rows, self.model.user_vectors(items, times, self.item_table)):
                out[n] = vector
        return out
