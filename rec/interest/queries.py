"""The interest model as a query maker: a user's recent history -> one query vector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rec.interest.model import InterestEvolutionModel, load_model
from rec.registry.interest_models import read_item_ids


class ModelQueries:
    """Recent history -> the model -> a query vector (D,) for the model's scoring vectors."""

    def __init__(self, model: InterestEvolutionModel, item_ids: Sequence[str]) -> None:
        self.model = model
        with torch.no_grad():
            self.item_table = model.item_table()  # (N, D): fixed while serving, computed once
        self.index = {item_id: i for i, item_id in enumerate(item_ids)}

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
        known = [(self.index[i], t) for i, t in zip(recent_items, recent_timestamps) if i in self.index]
        if not known:
            return None
        items, times = zip(*known)
        histories, timestamps = [np.asarray(items)], [np.asarray(times, dtype=np.float64)]
        return self.model.user_vectors(histories, timestamps, self.item_table)[0]
