"""Full-ranking metrics for leave-one-out evaluation (one target per user).

Conventions
-----------
* ``rank`` is 0-based: the number of non-excluded items that beat the target.
  By default (``ties="pessimistic"``) ties count against the target:
  ``rank = #(score > t) + #(score == t, other item)``, so a constant score
  function ranks every target last. ``ties="index"`` breaks ties by item column
  instead (lower column wins), as a stable sort would; with integer item ids
  this reproduces the anchors in ``shared/anchors/quality.md`` exactly.
* NaN scores are treated as ``-inf``.
* Excluded items (the user's train history, plus the validation item when the
  target is test) get ``-inf``. The target itself is never excluded, even when
  the user interacted with it before; if its own score is ``-inf`` it ties with
  every excluded item and lands at the bottom.
* ``HR@k = [rank < k]``, ``NDCG@k = [rank < k] / log2(rank + 2)``,
  ``MRR@k = [rank < k] / (rank + 1)``, averaged over users.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rec.evaluation.splits import ColdItemSplit, IdIndex, LeaveOneOutSplit, cold_item_split

logger = logging.getLogger(__name__)

__all__ = [
    "ColdItemSplit",
    "RankResult",
    "ScoreFn",
    "catalogue_coverage",
    "cold_item_split",
    "evaluate_scores",
    "hit_rate_at_k",
    "mask_excluded",
    "mrr_at_k",
    "ndcg_at_k",
    "rank_targets",
    "rank_users",
    "summarize",
]

ScoreFn = Callable[[np.ndarray], np.ndarray]  # user ids (B,) -> scores (B, n_items)


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean of ``rank < k`` over users; ``ranks`` (U,) are 0-based target ranks."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks < k)) if ranks.size else float("nan")


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean of ``1 / log2(rank + 2)`` if ``rank < k`` else 0, over users (U,)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not ranks.size:
        return float("nan")
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def mrr_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean of ``1 / (rank + 1)`` if ``rank < k`` else 0, over users (U,)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not ranks.size:
        return float("nan")
    return float(np.mean(np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)))


def catalogue_coverage(top_k_lists: np.ndarray | Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the ``n_items`` item columns that appear in at least one top-k list.

    ``top_k_lists`` is (U, k) item columns, or a ragged sequence of them.
    """
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    lists = [np.asarray(row, dtype=np.int64).ravel() for row in top_k_lists]
    if not lists:
        return 0.0
    return float(np.unique(np.concatenate(lists)).size / n_items)


def intra_list_diversity(top_k_lists: np.ndarray, item_vectors: np.ndarray) -> float:
    """Mean over lists of the mean pairwise distance 1 - cos of their items' unit vectors:
    0 = the same item k times, about 1 = unrelated items. ``top_k_lists`` (U, k) columns."""
    lists = np.asarray(top_k_lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[1] < 2:
        return 0.0
    vectors = item_vectors[lists]  # (U, k, D)
    cosines = np.einsum("ukd,uld->ukl", vectors, vectors)  # (U, k, k)
    upper = np.triu_indices(lists.shape[1], 1)
    return float(np.mean(1.0 - cosines[:, upper[0], upper[1]]))


def novelty(top_k_lists: np.ndarray, counts: np.ndarray) -> float:
    """Mean -log2 of the listed items' share of the events (``counts`` (N,), +1 smoothed):
    higher = less popular items."""
    share = (np.asarray(counts, dtype=np.float64) + 1.0) / (float(np.sum(counts)) + len(counts))
    return float(np.mean(-np.log2(share[np.asarray(top_k_lists, dtype=np.int64)])))


def mask_excluded(
    scores: np.ndarray, rows: np.ndarray, cols: np.ndarray, target_cols: np.ndarray
) -> np.ndarray:
    """Set excluded entries to -inf in place, keeping the target scores.

    ``scores`` (B, n_items) float; ``rows``/``cols`` (nnz,) excluded entries;
    ``target_cols`` (B,). NaN scores become -inf. Returns ``scores``.
    """
    b = np.arange(scores.shape[0])
    target_scores = scores[b, target_cols].copy()  # (B,)
    scores[np.isnan(scores)] = -np.inf
    scores[rows, cols] = -np.inf
    scores[b, target_cols] = np.where(np.isnan(target_scores), -np.inf, target_scores)
    return scores


def rank_targets(scores: np.ndarray, target_cols: np.ndarray, ties: str = "pessimistic") -> np.ndarray:
    """0-based rank (B,) of each target column in ``scores`` (B, n_items).

    ``ties="pessimistic"``: every other item with the target's score counts
    against it; ``ties="index"``: only those in a lower column. NaN counts as -inf.
    """
    if ties not in ("pessimistic", "index"):
        raise ValueError(f"ties must be 'pessimistic' or 'index', got {ties!r}")
    scores = np.where(np.isnan(scores), -np.inf, scores)  # (B, n_items)
    target_cols = np.asarray(target_cols)
    t = scores[np.arange(scores.shape[0]), target_cols][:, None]  # (B, 1)
    equal = scores == t  # (B, n_items), includes the target itself
    if ties == "index":
        equal &= np.arange(scores.shape[1])[None, :] < target_cols[:, None]
    else:
        equal[np.arange(scores.shape[0]), target_cols] = False
    return ((scores > t).sum(axis=1) + equal.sum(axis=1)).astype(np.int64)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Item columns (B, k) of the k highest scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (B, k) unordered
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass(frozen=True, eq=False)
class RankResult:
    """Per-user ranking outcome, rows aligned with ``split.test`` (or ``split.valid``)."""

    user_ids: np.ndarray  # (U,)
    target_cols: np.ndarray  # (U,) item column of the target
    ranks: np.ndarray  # (U,) 0-based rank of the target
    top_k: np.ndarray  # (U, k) recommended item columns after exclusion, best first
    n_items: int


def rank_users(
    score_fn: ScoreFn,
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    target: str = "test",
    batch_size: int = 512,
    top_k: int = 10,
    ties: str = "pessimistic",
) -> RankResult:
    """Score every item for every evaluable user and rank the held-out target.

    Excludes the train history, plus the validation item when ``target == "test"``.
    """
    events = split.targets(target)
    history = split.history_table(item_index, include_valid=(target == "test"))
    target_cols = item_index.encode(events.item_id)  # (U,)
    n_items, n_users = len(item_index), len(events)
    ranks = np.empty(n_users, dtype=np.int64)
    tops = np.empty((n_users, min(top_k, n_items)), dtype=np.int64)
    for start in range(0, n_users, batch_size):
        sl = slice(start, min(start + batch_size, n_users))
        users = events.user_id[sl]
        scores = np.array(score_fn(users), dtype=np.float64)  # (B, n_items), own copy
        if scores.shape != (len(users), n_items):
            raise ValueError(f"score_fn returned {scores.shape}, expected {(len(users), n_items)}")
        rows, cols, _, _ = history.gather(users)
        mask_excluded(scores, rows, cols, target_cols[sl])
        ranks[sl] = rank_targets(scores, target_cols[sl], ties)
        tops[sl] = _top_k(scores, top_k)
    return RankResult(events.user_id, target_cols, ranks, tops, n_items)


def summarize(
    result: RankResult,
    ks: Sequence[int] = (10, 20),
    coverage_k: int = 10,
    user_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics dict (HR@k, NDCG@k, MRR@k, recall@k, precision@k per k, coverage@coverage_k, n_users).

    ``user_mask`` (U,) bool selects a subset of the result's users.
    """
    mask = np.ones(len(result.ranks), bool) if user_mask is None else np.asarray(user_mask, bool)
    if mask.shape != result.ranks.shape:
        raise ValueError(f"user_mask has shape {mask.shape}, expected {result.ranks.shape}")
    ranks = result.ranks[mask]
    out: dict[str, float] = {}
    for k in ks:
        out[f"HR@{k}"] = hit_rate_at_k(ranks, k)
        out[f"NDCG@{k}"] = ndcg_at_k(ranks, k)
        out[f"MRR@{k}"] = mrr_at_k(ranks, k)
        # One held-out item per user: recall@k is HR@k and precision@k is HR@k / k.
        out[f"recall@{k}"] = out[f"HR@{k}"]
        out[f"precision@{k}"] = out[f"HR@{k}"] / k
    if coverage_k > result.top_k.shape[1] < result.n_items:  # a tiny catalogue is all stored
        raise ValueError(f"coverage_k={coverage_k} exceeds stored top-k {result.top_k.shape[1]}")
    out[f"coverage@{coverage_k}"] = catalogue_coverage(result.top_k[mask, :coverage_k], result.n_items)
    out["n_users"] = int(mask.sum())
    return out


def evaluate_scores(
    score_fn: ScoreFn,
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    ks: Sequence[int] = (10, 20),
    target: str = "test",
    batch_size: int = 512,
    user_mask: np.ndarray | None = None,
    coverage_k: int = 10,
    ties: str = "pessimistic",
) -> dict[str, float]:
    """Full-ranking evaluation of ``score_fn`` on the ``target`` split.

    ``score_fn(user_ids (B,)) -> (B, n_items)`` scores, columns ordered as
    ``item_index.ids``. ``user_mask`` (U,) bool, aligned with
    ``split.test`` / ``split.valid`` rows, restricts the averages to a subset
    (e.g. ``cold.is_cold(split.test.item_id)``). ``ties`` as in
    :func:`rank_targets`. For several subsets call
    :func:`rank_users` once and :func:`summarize` per subset.
    """
    result = rank_users(score_fn, split, item_index, target, batch_size, coverage_k, ties)
    metrics = summarize(result, ks, coverage_k, user_mask)
    logger.info("evaluate_scores(%s): %s", target, metrics)
    return metrics
