"""The champion interest-evolution model inside the ingress replica."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rec.config import RecConfig
from rec.registry.interest_models import InterestModelVersion, read_item_ids
from rec.interest.model import load_model
from rec.storage.items_table import ItemStore, check_vector_space


class InterestModelRunner:
    """Recent history -> the model -> a query vector for the model's scoring table."""

    def __init__(self, config: RecConfig, version: InterestModelVersion) -> None:
        torch.set_num_threads(1)  # one small forward pass per request; leave cores to others
        self.model = load_model(version.model_dir)
        with torch.no_grad():
            self.item_table = self.model.item_table()  # (N, D): fixed while serving, computed once
        item_ids = read_item_ids(version.model_dir)
        self.index = {item_id: i for i, item_id in enumerate(item_ids)}
        self.scoring = ItemStore(config.paths.lancedb_uri, version.scoring_table, version.scoring_table_version)
        check_vector_space(self.scoring, version.tag)

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

        Items the model has no index for (live-added ones, or catalogue items newer than
        the model) are left out of the history: the model reads item indices, so it cannot
        take their projected vectors as input. They are still candidates (serve/new_items.py).
        """
        known = [(self.index[i], t) for i, t in zip(recent_items, recent_timestamps) if i in self.index]
        if not known:
            return None
        items, times = zip(*known)
        histories, timestamps = [np.asarray(items)], [np.asarray(times, dtype=np.float64)]
        return self.model.user_vectors(histories, timestamps, self.item_table)[0]
