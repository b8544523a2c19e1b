"""Interest-evolution model: a small causal Transformer over a user's ordered history.

Items are represented from their frozen text embeddings (e.g. all-MiniLM-L6-v2,
384-d): ``e_i = P(t_i) + a_i``, where ``P`` is a learned projection of the
(standardised) text vector and ``a_i`` a learned per-item adjustment,
zero-initialised and used only for items that had training data ("warm"); a
cold item is its text projection alone. The same vectors are the Transformer's
inputs and its outputs' scoring targets (tied).

Serving contract (all that the product needs):

* :meth:`InterestEvolutionModel.item_vectors` -> ``(N, D)`` item vectors for the vector DB;
* :meth:`InterestEvolutionModel.user_vectors` -> ``(B, D)`` query vectors, the
  Transformer's output at the last position of each ordered history;
* score = ``dot(user_vector, item_vector)``. With ``item_bias`` on, ``D = d + 1``:
  the item's bias is the last item coordinate and the user's last coordinate is 1.

Pure torch + numpy; training lives in :mod:`rec.sequence_train`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class SequenceModelConfig:
    """Hyper-parameters of the model and of its training loop."""

    d: int = 64  # hidden size
    layers: int = 2
    heads: int = 1
    dropout: float = 0.3
    max_len: int = 200  # longest history the model reads (older events are dropped)
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 32  # small batches: more updates per epoch, same cost per event
    max_epochs: int = 40
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    time_limit_s: float = 480.0  # wall-clock cap of the training loop
    seed: int = 0
    use_time_gaps: bool = False  # add an embedding of the bucketed log time gap
    time_buckets: int = 24
    item_bias: bool = True  # per-item bias, folded into the vectors as an extra dimension
    adjust_dropout: float = 0.0  # per-batch share of warm items trained on text only
    future_window: int = 4  # predict the next K items at each position (K = 1: next item only)
    future_weight: float = 0.5  # loss weight of the items 2..K steps ahead
    ema_decay: float = 0.99  # > 0: evaluate and keep an exponential moving average of the weights
    exclude_seen: bool = True  # leave items already in the history out of the training softmax
    refit_with_valid: bool = False  # after early stopping, retrain on train + valid for the best epoch count
    threads: int = 2

    def __post_init__(self) -> None:
        if self.d <= 0 or self.layers < 0 or self.heads <= 0 or self.d % self.heads:
            raise ValueError("need d > 0, layers >= 0, heads > 0 and d divisible by heads")
        if not (0.0 <= self.dropout < 1.0 and 0.0 <= self.adjust_dropout <= 1.0):
            raise ValueError("dropout must be in [0, 1) and adjust_dropout in [0, 1]")
        if min(self.max_len, self.batch_size, self.max_epochs, self.time_buckets, self.future_window) <= 0:
            raise ValueError("max_len, batch_size, max_epochs, time_buckets, future_window must be positive")

    @classmethod
    def from_dict(cls, values: dict) -> SequenceModelConfig:
        """Build from a dict; unknown keys are an error."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SequenceModelConfig keys: {sorted(unknown)}")
        return cls(**values)


def time_gap_buckets(timestamps: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket ids (T,) of the gap to the previous event: 0 for the first, else 1 + floor(log2(1 + gap_s))."""
    ts = np.asarray(timestamps, dtype=np.float64)  # (T,)
    gaps = np.diff(ts, prepend=ts[:1]) if ts.size else ts
    buckets = 1 + np.floor(np.log2(1.0 + np.maximum(gaps, 0.0))).astype(np.int64)
    buckets[:1] = 0
    return np.minimum(buckets, n_buckets - 1)


class CausalBlock(nn.Module):
    """Pre-norm Transformer block: masked self-attention then a GELU feed-forward."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, d); ``allowed`` (B, 1, T, T) bool, True where a query may attend a key."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B, H, T, d / H)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, T, d / H)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class InterestEvolutionModel(nn.Module):
    """SASRec-style causal Transformer over text-initialised, tied item vectors.

    ``item_text_vectors`` (N, E) are frozen; ``warm`` (N,) bool marks the items
    with training data (only they get a learned adjustment and bias). Item
    index ``N`` is padding. Histories are left-padded to ``max_len``.
    """

    def __init__(self, config: SequenceModelConfig, item_text_vectors: np.ndarray, warm: np.ndarray) -> None:
        super().__init__()
        text = torch.as_tensor(np.asarray(item_text_vectors, dtype=np.float32))  # (N, E)
        n, e = text.shape
        d = config.d
        self.config, self.n_items = config, n
        self.register_buffer("text", text)
        self.register_buffer("text_mean", text.mean(0))  # (E,)
        self.register_buffer("text_scale", (text - text.mean(0)).std() + 1e-8)  # scalar
        self.register_buffer("warm", torch.as_tensor(np.asarray(warm, dtype=bool)))  # (N,)
        self.proj = nn.Linear(e, d)
        self.text_bias = nn.Linear(e, 1)
        self.adjust = nn.Embedding(n, d)
        self.bias_adjust = nn.Embedding(n, 1)
        nn.init.normal_(self.proj.weight, std=1.0 / math.sqrt(e * d))  # item vectors ~ N(0, 1/d)
        nn.init.zeros_(self.proj.bias)
        nn.init.zeros_(self.text_bias.weight)
        nn.init.zeros_(self.adjust.weight)
        nn.init.zeros_(self.bias_adjust.weight)
        self.pos = nn.Embedding(config.max_len, d)
        nn.init.normal_(self.pos.weight, std=0.5)
        self.gap = nn.Embedding(config.time_buckets, d) if config.use_time_gaps else None
        self.blocks = nn.ModuleList(CausalBlock(d, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)

    def _standardise(self, text: torch.Tensor) -> torch.Tensor:
        return (text - self.text_mean) / self.text_scale  # (M, E)

    def project_text(self, text: torch.Tensor) -> torch.Tensor:
        """Vectors (M, D) of items known only by text (M, E): a brand-new item's vector."""
        z = self._standardise(text)
        vec = self.proj(z)  # (M, d)
        if self.config.item_bias:
            vec = torch.cat([vec, self.text_bias(z)], dim=1)  # (M, d + 1)
        return vec

    def item_table(self, drop_adjust: torch.Tensor | None = None) -> torch.Tensor:
        """Item vectors (N, D); ``drop_adjust`` (N,) bool hides adjustments (training only)."""
        keep = self.warm if drop_adjust is None else self.warm & ~drop_adjust  # (N,)
        adj = self.adjust.weight
        if self.config.item_bias:
            adj = torch.cat([adj, self.bias_adjust.weight], dim=1)  # (N, d + 1)
        return self.project_text(self.text) + adj * keep[:, None].to(adj.dtype)

    def encode(self, items: torch.Tensor, gaps: torch.Tensor | None, table: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, d) for left-padded ``items`` (B, T) (pad = N) and ``gaps`` (B, T)."""
        t, d = items.shape[1], self.config.d
        pad = items == self.n_items  # (B, T)
        x = F.embedding(items.clamp(max=self.n_items - 1), table[:, :d]) * math.sqrt(d)  # (B, T, d)
        x = x.masked_fill(pad[..., None], 0.0)
        x = x + self.pos.weight[self.config.max_len - t :][None]  # last position = max_len - 1
        if self.gap is not None and gaps is not None:
            x = x + self.gap(gaps)
        x = self.drop(x)
        causal = torch.ones(t, t, dtype=torch.bool, device=items.device).tril()  # (T, T)
        allowed = causal[None] & ~pad[:, None, :]  # (B, T, T): no padding keys
        allowed = (allowed | torch.eye(t, dtype=torch.bool, device=items.device))[:, None]  # self always
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x)

    def to_query(self, hidden: torch.Tensor) -> torch.Tensor:
        """Append the constant-1 bias coordinate to hidden states (..., d) when ``item_bias``."""
        if not self.config.item_bias:
            return hidden
        return torch.cat([hidden, hidden.new_ones(*hidden.shape[:-1], 1)], dim=-1)  # (..., d + 1)

    def forward(self, items: torch.Tensor, gaps: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (B, T, N) of every item after every position of ``items`` (B, T)."""
        table = self.item_table()  # (N, D)
        return self.to_query(self.encode(items, gaps, table)) @ table.T

    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        """Item vectors (N, D) float32, rows in item-index order (what goes to the vector DB)."""
        return self.item_table().float().cpu().numpy()

    @torch.no_grad()
    def user_vectors(
        self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None,
        table: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Query vectors (B, D) float32 from ordered histories of item indices (any lengths).

        ``table``: the item vectors (N, D) of :meth:`item_table`, if the caller keeps
        them (a server does: projecting the whole catalogue costs more than the forward pass).
        """
        was_training = self.training
        self.eval()
        items, gaps = pad_histories(histories, timestamps, self.config, self.n_items)
        table = self.item_table() if table is None else table
        hidden = self.encode(items, gaps, table)[:, -1]  # (B, d)
        self.train(was_training)
        return self.to_query(hidden).float().cpu().numpy()


def pad_histories(
    histories: Sequence[np.ndarray],
    timestamps: Sequence[np.ndarray] | None,
    config: SequenceModelConfig,
    pad: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Left-pad the last ``max_len`` events: items (B, T) with ``pad``, gap buckets (B, T) or None."""
    t = max(1, min(config.max_len, max((len(h) for h in histories), default=1)))
    items = np.full((len(histories), t), pad, dtype=np.int64)  # (B, T)
    gaps = np.zeros((len(histories), t), dtype=np.int64) if config.use_time_gaps else None
    for row, hist in enumerate(histories):
        hist = np.asarray(hist, dtype=np.int64)[-t:]
        if hist.size:
            items[row, t - hist.size :] = hist
        if gaps is not None and timestamps is not None and hist.size:
            gaps[row, t - hist.size :] = time_gap_buckets(np.asarray(timestamps[row])[-t:], config.time_buckets)
    return torch.from_numpy(items), None if gaps is None else torch.from_numpy(gaps)


def save_model(model: InterestEvolutionModel, folder: str | Path) -> Path:
    """Write ``config.json`` and ``state.pt`` (state dict, incl. text vectors and warm mask)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2, sort_keys=True))
    torch.save(model.state_dict(), folder / STATE_FILE)
    return folder


def load_model(folder: str | Path) -> InterestEvolutionModel:
    """Rebuild a model saved by :func:`save_model` (in eval mode)."""
    folder = Path(folder)
    config = SequenceModelConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    model = InterestEvolutionModel(config, state["text"].numpy(), state["warm"].numpy())
    model.load_state_dict(state)
    return model.eval()
