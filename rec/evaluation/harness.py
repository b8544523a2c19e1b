"""Offline evaluation: the split, the baselines and the result table.

The protocol is shared/anchors/quality.md: leave-one-out by (timestamp, line),
full ranking over the catalogue, the user's earlier items excluded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rec.evaluation import baselines
from rec.config import InterestConfig
from rec.interest.rule import InterestState, apply_event, query_vector
from rec.evaluation.metrics import ScoreFn, rank_users, summarize
from rec.evaluation.splits import ColdItemSplit, IdIndex, LeaveOneOutSplit, cold_item_split, leave_one_out_split
from rec.storage.items_table import ItemStore

# (split, include_valid) -> score function; include_valid=False when scoring
# the validation target, so its own item is not in the history.
log = logging.getLogger(__name__)

ModelFactory = Callable[[LeaveOneOutSplit, bool], ScoreFn]
METRIC_KEYS = ("HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20", "coverage@10")


@dataclass(frozen=True)
class EvalData:
    """A split plus the item text vectors aligned with its item index."""

    split: LeaveOneOutSplit
    item_index: IdIndex
    item_vectors: np.ndarray  # (n_items, D) unit rows, row i = item_index.ids[i]
    timestamps: dict[tuple[str, str], float]


def build_eval_data(events: pa.Table, item_ids: list[str], item_vectors: np.ndarray) -> EvalData:
    """Split `events` (user_id, item_id, timestamp, line) over the catalogue `item_ids`."""
    split = leave_one_out_split(
        events["user_id"].to_numpy(zero_copy_only=False).astype(str),
        events["item_id"].to_numpy(zero_copy_only=False).astype(str),
        events["timestamp"].to_numpy(),
        events["line"].to_numpy(),
    )
    item_index = IdIndex.from_ids(np.asarray(item_ids, dtype=str))
    order = item_index.encode(np.asarray(item_ids, dtype=str))  # catalogue row -> column
    aligned = np.empty_like(item_vectors)
    aligned[order] = item_vectors
    times = {(u, i): float(t) for u, i, t in zip(
        events["user_id"].to_pylist(), events["item_id"].to_pylist(), events["timestamp"].to_pylist())}
    return EvalData(split, item_index, aligned, times)


def load_eval_data(
    db_uri: str, table: str, table_version: int | None, events_path: str
) -> tuple[EvalData, pa.Table]:
    """The split of an event file over one pinned items table, and the table's rows.

    Events of items that are not in the table are dropped (and counted in the log).
    """
    store = ItemStore(db_uri, table, table_version)
    catalogue = store.table.search().limit(store.count()).to_arrow()
    vectors = np.stack(catalogue["vector"].to_numpy(zero_copy_only=False)).astype(np.float32)
    events = pq.read_table(events_path, columns=["user_id", "item_id", "timestamp", "line"])
    in_catalogue = pc.is_in(events["item_id"], value_set=catalogue["item_id"])
    if not pc.all(in_catalogue).as_py():
        log.warning("dropping %d events of items not in the catalogue", len(events) - pc.sum(in_catalogue).as_py())
        events = events.filter(in_catalogue)
    return build_eval_data(events, catalogue["item_id"].to_pylist(), vectors), catalogue


def rerank_with_popularity(
    scores: np.ndarray, seen_rows: np.ndarray, seen_cols: np.ndarray, bonus: np.ndarray, candidates: int
) -> np.ndarray:
    """What ``ItemStore.search`` does with a popularity weight, on (B, N) ``scores``: seen items
    out, the best ``candidates`` of each row get ``bonus`` (N,) added, the rest -inf."""
    scores = scores.astype(np.float64, copy=True)
    scores[seen_rows, seen_cols] = -np.inf
    n = scores.shape[1]
    if candidates < n:
        kth = np.partition(scores, n - candidates, axis=1)[:, n - candidates][:, None]  # (B, 1)
        scores = np.where(scores >= kth, scores, -np.inf)
    return scores + bonus[None]


def interest_rule_scores(
    data: EvalData, split: LeaveOneOutSplit, include_valid: bool, config: InterestConfig
) -> ScoreFn:
    """The live service's per-event rule (rec/interest/rule.py), every interaction a 'like', ranked
    as the service ranks it (``popularity_weight``: re-ranked candidates; popularity counted
    from the split's train events)."""
    dim = data.item_vectors.shape[1]
    columns = {item: col for col, item in enumerate(data.item_index.ids)}
    counts = np.bincount(data.item_index.encode(split.train.item_id), minlength=len(data.item_index))
    bonus = config.popularity_weight * np.log1p(counts)  # (N,)
    seen = split.history_table(data.item_index, include_valid)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        queries = np.zeros((len(user_ids), dim), dtype=np.float32)  # (B, D)
        for row, user in enumerate(user_ids):
            state = InterestState.empty(dim)
            history = split.history_with_valid(user) if include_valid else split.train_history(user)
            for item in history:
                apply_event(state, item, data.item_vectors[columns[item]], "like",
                            data.timestamps.get((str(user), str(item)), 0.0), config)
            vector = query_vector(state)
            if vector is not None:
                queries[row] = vector
        scores = queries @ data.item_vectors.T  # (B, n_items)
        if config.popularity_weight <= 0:
            return scores
        rows, cols, _, _ = seen.gather(user_ids)
        return rerank_with_popularity(scores, rows, cols, bonus, config.popularity_candidates)

    return score_fn


def baseline_factories(data: EvalData, interest: InterestConfig, recency_tau: float) -> dict[str, ModelFactory]:
    """Every baseline, as split -> score function (so the cold protocol can refit them)."""
    vectors, index = data.item_vectors, data.item_index
    return {
        "popularity": lambda s, v: baselines.popularity_scores(s, index),
        "item-kNN": lambda s, v: baselines.item_knn_scores(s, index, include_valid=v),
        "text: mean of history": lambda s, v: baselines.embedding_mean_scores(s, index, vectors, v),
        f"text: recency-weighted (tau {recency_tau:g})": lambda s, v: baselines.embedding_recency_scores(
            s, index, vectors, tau=recency_tau, include_valid=v),
        "text: last item": lambda s, v: baselines.embedding_last_scores(s, index, vectors, v),
        "live per-event rule (serve fallback)": lambda s, v: interest_rule_scores(data, s, v, interest),
    }


def evaluate_model(factory: ModelFactory, data: EvalData, cold: ColdItemSplit | None) -> dict[str, float]:
    """Test metrics, validation NDCG@10 and, given a cold split, cold/warm HR and NDCG."""
    metrics = summarize(rank_users(factory(data.split, True), data.split, data.item_index, "test"))
    valid = summarize(rank_users(factory(data.split, False), data.split, data.item_index, "valid"))
    metrics["valid_NDCG@10"] = valid["NDCG@10"]
    if cold is not None:
        result = rank_users(factory(cold.split, True), cold.split, data.item_index, "test")
        is_cold = cold.is_cold(cold.split.test.item_id)
        for name, mask in (("cold", is_cold), ("warm", ~is_cold)):
            part = summarize(result, user_mask=mask)
            metrics[f"{name}_HR@10"], metrics[f"{name}_NDCG@10"] = part["HR@10"], part["NDCG@10"]
            metrics[f"{name}_users"] = part["n_users"]
    return metrics


def make_cold_split(data: EvalData, fraction: float, seed: int) -> ColdItemSplit:
    return cold_item_split(data.split, data.item_index, fraction=fraction, seed=seed)


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """One row per model: the test metrics, then cold vs warm HR@10."""
    header = ["model", *METRIC_KEYS, "cold HR@10", "warm HR@10"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in results.items():
        cells = [f"{m[k]:.4f}" for k in METRIC_KEYS]
        cells += [f"{m[k]:.4f}" if k in m else "-" for k in ("cold_HR@10", "warm_HR@10")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
