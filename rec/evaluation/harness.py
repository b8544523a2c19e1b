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

from rec.config import InterestConfig
from rec.evaluation import baselines
from rec.evaluation.calibration import calibration
from rec.evaluation.metrics import ScoreFn, rank_users, summarize
from rec.evaluation.splits import ColdItemSplit, IdIndex, LeaveOneOutSplit, cold_item_split, leave_one_out_split
from rec.interest.model import InterestEvolutionModel
from rec.interest.queries import ModelQueries
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import UserProfile, user_profile
from rec.ranking.candidates import Candidates, InMemoryItems, PinnedItem
from rec.ranking.pipeline import RankingPipeline, build_pipeline
from rec.ranking.strategies import RankRequest
from rec.storage.items_table import ItemStore, ScoredItem

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
    item_categories: tuple[tuple[str, ...], ...] = ()  # row i = item_index.ids[i]; () when not loaded


def build_eval_data(
    events: pa.Table, item_ids: list[str], item_vectors: np.ndarray, categories: list[list[str]] | None = None,
) -> EvalData:
    """Split `events` (user_id, item_id, timestamp, line) over the catalogue `item_ids`
    (with their `categories`, in the same order, when given)."""
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
    aligned_categories: list[tuple[str, ...]] = [()] * len(item_ids)
    for col, found in zip(order, categories or []):
        aligned_categories[col] = tuple(found or ())
    return EvalData(split, item_index, aligned, times, tuple(aligned_categories) if categories else ())


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
    data = build_eval_data(events, catalogue["item_id"].to_pylist(), vectors, catalogue["categories"].to_pylist())
    return data, catalogue


def catalog_candidates(data: EvalData, vectors: np.ndarray, popularity: np.ndarray) -> Candidates:
    """The catalogue in memory, as the service's Candidates over a pinned table: vectors
    (N, D) and popularity (N,) in item-index order, no new items."""
    items = InMemoryItems(vectors.shape[1])
    categories = data.item_categories or [()] * len(data.item_index)
    items.add([PinnedItem(str(i), "", tuple(c)) for i, c in zip(data.item_index.ids, categories)], vectors, popularity)
    return Candidates(items, InMemoryItems(vectors.shape[1]))


def split_profiles(
    data: EvalData, split: LeaveOneOutSplit, include_valid: bool, config: InterestConfig, history_length: int,
) -> Callable[[str], UserProfile]:
    """user id -> the profile the live service would hold after the user's history (train,
    then valid when asked), every interaction posted as a 'like' in order, as jobs/replay.py does."""
    columns = {item: col for col, item in enumerate(data.item_index.ids)}
    dim = data.item_vectors.shape[1]

    def profile_of(user: str) -> UserProfile:
        state = InterestState.empty(dim)
        for item in split.history_with_valid(user) if include_valid else split.train_history(user):
            apply_event(state, str(item), data.item_vectors[columns[item]], "like",
                        data.timestamps.get((user, str(item)), 0.0), config, history_length)
        return user_profile(user, state)

    return profile_of


def pipeline_score_fn(
    pipeline: RankingPipeline, profile_of: Callable[[str], UserProfile], item_index: IdIndex, k: int = 20,
    diversity: float = 0.0,
) -> ScoreFn:
    """The service's ranking as a harness score function: each user's top-k from
    `pipeline.recommend`, scored k, k - 1, ... in its order; every other item ties below
    (so a target outside the top-k ranks k or worse: exact for metrics at 10 and 20)."""
    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        scores = np.full((len(user_ids), len(item_index)), -1e9)  # (B, N); excluded items get -inf later
        for row, user in enumerate(user_ids):
            ranking = pipeline.recommend(profile_of(str(user)), RankRequest(k, diversity=diversity))
            cols = item_index.encode(np.asarray([item.item_id for item in ranking.items], dtype=str))
            scores[row, cols] = k - np.arange(len(cols))
        return scores

    return score_fn


def train_counts(data: EvalData, split: LeaveOneOutSplit) -> np.ndarray:
    """Events per item (N,) in the split's train events: offline popularity, without leaks."""
    return np.bincount(data.item_index.encode(split.train.item_id), minlength=len(data.item_index)).astype(float)


def _popular(data: EvalData, counts: np.ndarray) -> list[ScoredItem]:
    order = np.argsort(-counts, kind="stable")
    return [ScoredItem(str(data.item_index.ids[c]), "", float(counts[c]), [], float(counts[c])) for c in order]


def service_pipeline(
    data: EvalData, split: LeaveOneOutSplit, config: InterestConfig, model: InterestEvolutionModel | None = None,
) -> RankingPipeline:
    """The pipeline the service builds (rec/ranking/pipeline.py), over the split in memory."""
    counts = train_counts(data, split)
    text = catalog_candidates(data, data.item_vectors, counts)
    scoring = None
    if model is not None:
        queries = ModelQueries(model, [str(i) for i in data.item_index.ids])
        scoring = (queries, catalog_candidates(data, model.item_vectors(), counts), None)
    return build_pipeline(config, text, _popular(data, counts), scoring)


def interest_rule_scores(
    data: EvalData, split: LeaveOneOutSplit, include_valid: bool, config: InterestConfig,
    history_length: int = 200,
) -> ScoreFn:
    """The live service's per-event rule (rec/interest/rule.py) through its ranking pipeline, every
    interaction a 'like' (``popularity_weight``: re-ranked candidates; popularity counted
    from the split's train events)."""
    profiles = split_profiles(data, split, include_valid, config, history_length)
    return pipeline_score_fn(service_pipeline(data, split, config), profiles, data.item_index,
                             diversity=config.diversity)


def interest_model_scores(
    model: InterestEvolutionModel, data: EvalData, split: LeaveOneOutSplit, include_valid: bool,
    config: InterestConfig,
) -> ScoreFn:
    """An interest model as the service ranks with it: its query from the profile's recent items
    (the model's max_len of them, as serve keeps), over its item vectors, through the pipeline."""
    profiles = split_profiles(data, split, include_valid, config, model.config.max_len)
    return pipeline_score_fn(service_pipeline(data, split, config, model), profiles, data.item_index,
                             diversity=config.diversity)


def baseline_factories(data: EvalData, interest: InterestConfig, recency_tau: float) -> dict[str, ModelFactory]:
    """Every baseline, as split -> score function (so the cold protocol can refit them)."""
    vectors, index = data.item_vectors, data.item_index
    return {
        "popularity": lambda s, v: baselines.popularity_scores(s, index),
        "item-kNN": lambda s, v: baselines.item_knn_scores(s, index, include_valid=v),
        "Markov chain (last item)": lambda s, v: baselines.markov_scores(s, index, include_valid=v),
        "text: mean of history": lambda s, v: baselines.embedding_mean_scores(s, index, vectors, v),
        f"text: recency-weighted (tau {recency_tau:g})": lambda s, v: baselines.embedding_recency_scores(
            s, index, vectors, tau=recency_tau, include_valid=v),
        "text: last item": lambda s, v: baselines.embedding_last_scores(s, index, vectors, v),
        "live per-event rule (serve fallback)": lambda s, v: interest_rule_scores(data, s, v, interest),
    }


def evaluate_model(factory: ModelFactory, data: EvalData, cold: ColdItemSplit | None) -> dict[str, float]:
    """Test metrics, validation NDCG@10 and, given a cold split, cold/warm HR and NDCG."""
    test = rank_users(factory(data.split, True), data.split, data.item_index, "test")
    metrics = summarize(test)
    if data.item_categories:
        metrics.update({f"calibration_{k}": v for k, v in calibration(
            test, data.split, data.item_index, data.item_categories).items()})
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


def calibration_table(results: dict[str, dict[str, float]]) -> str:
    """One row per model: KL(recent mix || top-10 mix), and the focused users' shares."""
    header = ["model", "KL (lower: calibrated)", "focused users", "top-10 share of their category",
              "next item in it", "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in results.items():
        if "calibration_KL" in m:
            lines.append(f"| {name} | {m['calibration_KL']:.3f} | {m['calibration_focused_users']:.0f} | "
                         f"{m['calibration_focused_top10_share']:.2f} | {m['calibration_focused_next_share']:.2f} | "
                         f"{m['calibration_focused_ratio']:.2f} |")
    return "\n".join(lines)


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """One row per model: the test metrics, then cold vs warm HR@10."""
    header = ["model", *METRIC_KEYS, "cold HR@10", "warm HR@10"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in results.items():
        cells = [f"{m[k]:.4f}" for k in METRIC_KEYS]
        cells += [f"{m[k]:.4f}" if k in m else "-" for k in ("cold_HR@10", "warm_HR@10")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
