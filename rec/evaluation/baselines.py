"""Non-learned baselines as score functions for :func:`rec.evaluation.metrics.evaluate_scores`.

Every factory returns ``score_fn(user_ids (B,)) -> (B, n_items)`` with columns
ordered as ``item_index.ids``. History-based baselines read the user's ordered
history from the split: train plus the validation item when
``include_valid=True`` (default; use it when scoring test: the same context a
sequential model gets), train only when ``include_valid=False`` (use it when
scoring valid; RecBole's ItemKNN also scores test from train only). Fitted statistics (popularity counts, item-item similarity) always
come from train only. Pure numpy: at ML-100k scale dense matrices are cheap.
"""

from __future__ import annotations

import logging

import numpy as np

from rec.evaluation.metrics import ScoreFn
from rec.evaluation.splits import HistoryTable, IdIndex, LeaveOneOutSplit

logger = logging.getLogger(__name__)


def history_weights(
    table: HistoryTable, user_ids: np.ndarray, n_items: int, kind: str = "binary", tau: float = 5.0
) -> np.ndarray:
    """Dense (B, n_items) float32 matrix of per-item history weights.

    ``kind``: ``"binary"`` (1 per event), ``"recency"`` (``exp(-(n-1-i)/tau)`` for
    the event at position ``i`` of an ``n``-long history) or ``"last"`` (1 on the
    last event only). Repeated items sum their weights.
    """
    rows, cols, pos, lengths = table.gather(user_ids)  # (nnz,) x3, (B,)
    n_hist = lengths[rows]  # (nnz,)
    if kind == "binary":
        w = np.ones(len(rows))
    elif kind == "recency":
        w = np.exp(-(n_hist - 1 - pos) / float(tau))
    elif kind == "last":
        w = (pos == n_hist - 1).astype(np.float64)
    else:
        raise ValueError(f"unknown history weighting {kind!r}")
    flat = np.bincount(rows * n_items + cols, weights=w, minlength=len(lengths) * n_items)
    return flat.reshape(len(lengths), n_items).astype(np.float32)


def random_scores(n_items: int, seed: int = 0) -> ScoreFn:
    """Uniform random scores (a floor for sanity checks); seeded, stateful across calls."""
    rng = np.random.default_rng(seed)
    return lambda user_ids: rng.random((len(user_ids), n_items))


def popularity_scores(split: LeaveOneOutSplit, item_index: IdIndex) -> ScoreFn:
    """Score = number of train interactions of the item (the same for every user)."""
    counts = np.bincount(item_index.encode(split.train.item_id), minlength=len(item_index))
    counts = counts.astype(np.float64)  # (n_items,)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        return np.tile(counts, (len(user_ids), 1))  # (B, n_items)

    return score_fn


def item_cosine_similarity(
    split: LeaveOneOutSplit, item_index: IdIndex, k: int = 100, shrink: float = 0.0
) -> np.ndarray:
    """Top-k pruned item-item cosine similarity (n_items, n_items) from binary train data.

    ``S[i, j] = |U_i & U_j| / (sqrt|U_i| sqrt|U_j| + shrink + 1e-6)`` with ``U_i`` the
    train users of item ``i``; diagonal zeroed; each column ``j`` keeps its ``k``
    largest entries (RecBole ItemKNN defaults: k=100, shrink=0).
    """
    n_items = len(item_index)
    table = split.history_table(item_index, include_valid=False)
    x = history_weights(table, split.users.ids, n_items, "binary")  # (n_users, n_items)
    x = np.minimum(x, 1.0)  # binarise repeated interactions
    co = x.T @ x  # (n_items, n_items) co-occurrence counts
    norms = np.sqrt(np.diag(co)).astype(np.float32)  # (n_items,)
    sim = co / (np.outer(norms, norms) + shrink + 1e-6)
    np.fill_diagonal(sim, 0.0)
    if k < n_items:
        drop = np.argpartition(-sim, k, axis=0)[k:]  # (n_items - k, n_items) row ids per column
        np.put_along_axis(sim, drop, 0.0, axis=0)
    return sim.astype(np.float32)


def item_knn_scores(
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    k: int = 100,
    shrink: float = 0.0,
    include_valid: bool = True,
) -> ScoreFn:
    """Item-kNN: score of item j = sum of ``S[i, j]`` over the items i in the user's history."""
    sim = item_cosine_similarity(split, item_index, k, shrink)  # (n_items, n_items)
    table = split.history_table(item_index, include_valid)
    n_items = len(item_index)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        x = np.minimum(history_weights(table, user_ids, n_items, "binary"), 1.0)  # (B, n_items)
        return x @ sim  # (B, n_items)

    return score_fn


def markov_transitions(split: LeaveOneOutSplit, item_index: IdIndex, alpha: float = 1.0) -> np.ndarray:
    """First-order Markov chain (n_items, n_items): ``P[i, j] = (n_ij + alpha * p_j) / (n_i + alpha)``.

    ``n_ij`` counts train histories where j directly follows i, ``n_i`` = sum_j n_ij,
    ``p_j`` the train popularity share of j: additive smoothing towards popularity,
    so a last item seen rarely (or never) as a predecessor falls back on it.
    """
    n_items = len(item_index)
    table = split.history_table(item_index, include_valid=False)
    starts, ends = table.indptr[:-1], table.indptr[1:]
    follows = np.ones(len(table.cols), dtype=bool)
    follows[starts[ends > starts]] = False  # the first event of a history follows nothing
    previous, current = table.cols[np.flatnonzero(follows) - 1], table.cols[follows]
    counts = np.zeros((n_items, n_items), dtype=np.float64)
    np.add.at(counts, (previous, current), 1.0)
    prior = np.bincount(table.cols, minlength=n_items) / max(len(table.cols), 1)  # (n_items,)
    return ((counts + alpha * prior) / (counts.sum(axis=1, keepdims=True) + alpha)).astype(np.float32)


def markov_scores(
    split: LeaveOneOutSplit, item_index: IdIndex, alpha: float = 1.0, include_valid: bool = True,
) -> ScoreFn:
    """Markov chain: score of item j = P(next = j | the user's last item)."""
    transitions = markov_transitions(split, item_index, alpha)
    table = split.history_table(item_index, include_valid)
    n_items = len(item_index)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        return history_weights(table, user_ids, n_items, "last") @ transitions  # (B, n_items)

    return score_fn


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows of (n, d); zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _embedding_scores(
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    item_embeddings: np.ndarray,
    include_valid: bool,
    kind: str,
    tau: float = 5.0,
) -> ScoreFn:
    """Score = dot(item embedding, normalised weighted sum of history embeddings)."""
    emb = np.asarray(item_embeddings, dtype=np.float32)  # (n_items, d)
    if emb.ndim != 2 or emb.shape[0] != len(item_index):
        raise ValueError(f"item_embeddings must be (n_items={len(item_index)}, d), got {emb.shape}")
    emb = _normalise_rows(emb)
    table = split.history_table(item_index, include_valid)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        w = history_weights(table, user_ids, len(item_index), kind, tau)  # (B, n_items)
        user_vec = _normalise_rows(w @ emb)  # (B, d); empty history -> zeros -> all ties
        return user_vec @ emb.T  # (B, n_items)

    return score_fn


def embedding_mean_scores(
    split: LeaveOneOutSplit, item_index: IdIndex, item_embeddings: np.ndarray, include_valid: bool = True
) -> ScoreFn:
    """User vector = normalised mean of the (L2-normalised) history item embeddings."""
    return _embedding_scores(split, item_index, item_embeddings, include_valid, "binary")


def embedding_recency_scores(
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    item_embeddings: np.ndarray,
    tau: float = 5.0,
    include_valid: bool = True,
) -> ScoreFn:
    """User vector = normalised sum of history embeddings weighted ``exp(-(n-1-i)/tau)``."""
    return _embedding_scores(split, item_index, item_embeddings, include_valid, "recency", tau)


def embedding_last_scores(
    split: LeaveOneOutSplit, item_index: IdIndex, item_embeddings: np.ndarray, include_valid: bool = True
) -> ScoreFn:
    """User vector = embedding of the last history item."""
    return _embedding_scores(split, item_index, item_embeddings, include_valid, "last")
