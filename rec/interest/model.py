"""Interest-evolution model: a small causal Transformer over a user's ordered history.

Items are represented from their frozen text embeddings (e.g. all-MiniLM-L6-v2,
384-d): ``e_i = P(t_i) + a_i``, where ``P`` is a learned projection of the
(standardised) text vector and ``a_i`` a learned per-item adjustment,
zero-initialised and used only for items that had training data ("warm"); a
cold item is its text projection alone. The same vectors are the Transformer's
inputs and its outputs' scoring targets (tied).

Time (seed 001's time-weighted attention over behaviour): with
``use_time_gaps`` each event adds an embedding of the log-bucketed gap to the
one before it; with ``time_attention`` every attention layer adds a learned
bias per head and log bucket of the time between query and key events, so the
model can weigh "the films rated in the same second as the latest one" (a
page of ratings: half of MovieLens' consecutive events share a timestamp)
apart from older interests. With ``run_position`` each event also embeds how
many events just before it share its second: how far into a page of ratings
the user is. Timestamps enter only as differences, so a model behaves the
same at any date.

Serving contract (all that the product needs):

* :meth:`InterestEvolutionModel.item_vectors` -> ``(N, D)`` item vectors for the vector DB;
* :meth:`InterestEvolutionModel.user_vectors` -> ``(B, D)`` query vectors, the
  Transformer's output at the last position of each ordered history;
* score = ``dot(user_vector, item_vector)``. With ``item_bias`` on, ``D = d + 1``:
  the item's bias is the last item coordinate and the user's last coordinate is 1.

Pure torch + numpy; training lives in :mod:`rec.interest.training`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec.interest.model_config import SequenceModelConfig
from rec.interest.layers import CausalBlock, FastDropout, log_time_buckets, lookup, relative_times, run_positions

CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"
USER_CHUNK = 128  # histories per forward pass in user_vectors


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
        self.run = nn.Embedding(config.max_run, d) if config.run_position else None
        pair_buckets = config.time_buckets if config.time_attention else 0
        self.blocks = nn.ModuleList(
            CausalBlock(d, config.heads, config.dropout, pair_buckets) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(d)
        self.drop = FastDropout(config.dropout)

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

    @property
    def uses_time(self) -> bool:
        return self.config.use_time_gaps or self.config.time_attention or self.config.run_position

    def encode(self, items: torch.Tensor, times: torch.Tensor | None, table: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, d) for left-padded ``items`` (B, T) (pad = N) and their ``times``
        (B, T) float seconds (any origin; see :func:`relative_times`), needed by the time features."""
        t, d, cfg = items.shape[1], self.config.d, self.config
        pad = items == self.n_items  # (B, T)
        x = lookup(table[:, :d], items.clamp(max=self.n_items - 1)) * math.sqrt(d)  # (B, T, d)
        x = x.masked_fill(pad[..., None], 0.0)
        x = x + self.pos.weight[cfg.max_len - t :][None]  # last position = max_len - 1
        if self.gap is not None and times is not None:  # gap to the previous event; 0 for the first one
            gaps = 1 + log_time_buckets(times.diff(dim=1, prepend=times[:, :1]), cfg.time_buckets)  # (B, T)
            first = F.pad(pad[:, :-1], (1, 0), value=True)  # (B, T): the previous position is padding
            x = x + lookup(self.gap.weight, gaps.masked_fill(first, 0).clamp(max=cfg.time_buckets - 1))
        if self.run is not None and times is not None:
            x = x + lookup(self.run.weight, run_positions(times, pad).clamp(max=cfg.max_run - 1))
        x = self.drop(x)
        causal = torch.ones(t, t, dtype=torch.bool, device=items.device).tril()  # (T, T)
        allowed = causal[None] & ~pad[:, None, :]  # (B, T, T): no padding keys
        allowed = (allowed | torch.eye(t, dtype=torch.bool, device=items.device))[:, None]  # self always
        masks = [allowed] * len(self.blocks)
        if cfg.time_attention and times is not None and self.blocks:
            masks = self._time_biases(times, allowed)
        for block, mask in zip(self.blocks, masks):
            x = block(x, mask)
        return self.norm(x)

    def _time_biases(self, times: torch.Tensor, allowed: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's additive attention mask (B, H, T, T): its bias for the log bucket of
        |t_query - t_key|, -inf where not ``allowed`` (B, 1, T, T). One lookup for all layers
        (the per-layer ones cost as much as the attention itself at serving)."""
        buckets = log_time_buckets((times[:, :, None] - times[:, None, :]).abs(), self.config.time_buckets)
        table = torch.cat([block.time_bias.weight for block in self.blocks], dim=1)  # (buckets, L * H)
        bias = lookup(table, buckets).permute(0, 3, 1, 2)  # (B, L * H, T, T)
        return list(bias.masked_fill(~allowed, float("-inf")).split(self.config.heads, dim=1))

    def to_query(self, hidden: torch.Tensor) -> torch.Tensor:
        """Append the constant-1 bias coordinate to hidden states (..., d) when ``item_bias``."""
        if not self.config.item_bias:
            return hidden
        return torch.cat([hidden, hidden.new_ones(*hidden.shape[:-1], 1)], dim=-1)  # (..., d + 1)

    def forward(self, items: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (B, T, N) of every item after every position of ``items`` (B, T)."""
        table = self.item_table()  # (N, D)
        return self.to_query(self.encode(items, times, table)) @ table.T

    def _boosted(self, vectors: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """``vectors`` (M, D) with ``new_item_boost`` added to the bias of rows where ``new`` (M,) is set.

        The boost is a ranking policy, not a learned quantity: an item without
        training data gets a vector from its text alone, which ranks it below
        established items that users are known to pick; the boost trades some
        accuracy on those for exposure of new items (README, "Quality").
        """
        if not (self.config.item_bias and self.config.new_item_boost):
            return vectors
        vectors = vectors.clone()
        vectors[new, -1] += self.config.new_item_boost  # the bias coordinate
        return vectors

    @torch.no_grad()
    def item_vectors(self, boosted: bool = True) -> np.ndarray:
        """Scoring vectors (N, D) float32, rows in item-index order (what goes to the vector DB).

        ``boosted=False``: without ``new_item_boost``, the model alone (what validation measures).
        """
        table = self.item_table()
        return (self._boosted(table, ~self.warm) if boosted else table).float().cpu().numpy()

    @torch.no_grad()
    def new_item_vectors(self, text_vectors: np.ndarray) -> np.ndarray:
        """Scoring vectors (M, D) float32 of items known only by their text vectors (M, E), e.g. added live."""
        vectors = self.project_text(torch.as_tensor(np.asarray(text_vectors, dtype=np.float32)))
        return self._boosted(vectors, torch.ones(len(vectors), dtype=torch.bool)).float().cpu().numpy()

    @torch.no_grad()
    def user_vectors(
        self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None,
        table: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Query vectors (B, D) float32 from ordered histories of item indices (any lengths).

        ``table``: the item vectors (N, D) of :meth:`item_table`, if the caller keeps
        them (a server does: projecting the whole catalogue costs more than the forward pass).
        """
        if not len(histories):
            return np.zeros((0, self.item_table().shape[1] if table is None else table.shape[1]), np.float32)
        was_training = self.training
        self.eval()
        table = self.item_table() if table is None else table
        # Length-sorted chunks: a batch is padded to its longest history, and attention is quadratic.
        order = np.argsort([len(h) for h in histories], kind="stable")
        out = np.empty((len(histories), table.shape[1]), dtype=np.float32)
        for chunk in np.array_split(order, max(1, -(-len(order) // USER_CHUNK))):
            items, times = pad_histories(
                [histories[i] for i in chunk],
                [timestamps[i] for i in chunk] if self.uses_time and timestamps is not None else None,
                self.config, self.n_items,
            )
            out[chunk] = self.to_query(self.encode(items, times, table)[:, -1]).float().cpu().numpy()  # (b, D)
        self.train(was_training)
        return out


def pad_histories(
    histories: Sequence[np.ndarray],
    timestamps: Sequence[np.ndarray] | None,
    config: SequenceModelConfig,
    pad: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Left-pad the last ``max_len`` events: items (B, T) with ``pad``; with ``timestamps``, also
    their :func:`relative_times` (B, T) float32 (0 at padding), else None."""
    t = max(1, min(config.max_len, max((len(h) for h in histories), default=1)))
    items = np.full((len(histories), t), pad, dtype=np.int64)  # (B, T)
    times = None if timestamps is None else np.zeros((len(histories), t), dtype=np.float32)
    for row, hist in enumerate(histories):
        hist = np.asarray(hist, dtype=np.int64)[-t:]
        if hist.size:
            items[row, t - hist.size :] = hist
            if times is not None:
                times[row, t - hist.size :] = relative_times(np.asarray(timestamps[row])[-t:])
    return torch.from_numpy(items), None if times is None else torch.from_numpy(times)


def save_model(model: InterestEvolutionModel, folder: str | Path) -> Path:
    """Write ``config.json`` and ``state.pt`` (state dict, incl. text vectors and warm mask)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(model.config.model_dump(), indent=2, sort_keys=True))
    torch.save(model.state_dict(), folder / STATE_FILE)
    return folder


def load_model(folder: str | Path) -> InterestEvolutionModel:
    """Rebuild a model saved by :func:`save_model` (in eval mode)."""
    folder = Path(folder)
    config = SequenceModelConfig.model_validate_json((folder / CONFIG_FILE).read_text())
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    model = InterestEvolutionModel(config, state["text"].numpy(), state["warm"].numpy())
    model.load_state_dict(state)
    return model.eval()
