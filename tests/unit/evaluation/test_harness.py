"""rec/evaluation/harness.py on a small synthetic log where the answers are known."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rec.config import InterestConfig
from rec.evaluation.harness import (
    baseline_factories, build_eval_data, evaluate_model, interest_rule_scores, make_cold_split, markdown_table,
    rerank_with_popularity,
)

DIM = 8


def _data():
    # 6 items on the axes of an 8-d space; every user walks i0 -> i1 -> ... in order.
    item_ids = [f"i{j}" for j in range(6)]
    vectors = np.eye(DIM, dtype=np.float32)[:6]
    rows = []
    for u in range(5):
        for step, item in enumerate(item_ids[u % 2 : u % 2 + 4]):
            rows.append({"user_id": f"u{u}", "item_id": item, "timestamp": 1000 * step, "line": len(rows)})
    events = pa.Table.from_pylist(rows)
    return build_eval_data(events, item_ids, vectors)


def test_vectors_are_aligned_with_the_item_index():
    data = _data()
    for col, item in enumerate(data.item_index.ids):
        assert data.item_vectors[col].argmax() == int(item[1:])


def test_interest_rule_uses_validation_item_only_when_asked():
    data = _data()
    user = np.asarray(["u0"])  # train i0 i1, valid i2, test i3
    cosine = InterestConfig(popularity_weight=0)  # the vector's own scores
    with_valid = interest_rule_scores(data, data.split, True, cosine)(user)[0]
    train_only = interest_rule_scores(data, data.split, False, cosine)(user)[0]
    col = {item: c for c, item in enumerate(data.item_index.ids)}
    assert with_valid[col["i2"]] > 0 and train_only[col["i2"]] == 0
    assert train_only[col["i1"]] > train_only[col["i0"]]  # the latest event weighs most


def test_interest_rule_ranks_as_the_service_with_popularity():
    """Seen items out, the best `popularity_candidates` by cosine + w * log(1 + train count)."""
    data = _data()
    user = np.asarray(["u0"])  # train i0 i1 (valid i2 left out)
    cosine = interest_rule_scores(data, data.split, False, InterestConfig(popularity_weight=0))(user)[0]
    config = InterestConfig(popularity_weight=0.5)  # candidates: rerank_with_popularity's test below
    scores = interest_rule_scores(data, data.split, False, config)(user)[0]
    col = {item: c for c, item in enumerate(data.item_index.ids)}
    train_counts = {item: int((data.split.train.item_id == item).sum()) for item in data.item_index.ids}
    assert np.isneginf(scores[[col["i0"], col["i1"]]]).all()  # seen
    kept = np.flatnonzero(np.isfinite(scores))
    assert len(kept) == 4
    for c in kept:
        item = data.item_index.ids[c]
        assert scores[c] == np.float64(cosine[c]) + 0.5 * np.log1p(train_counts[item])


def test_rerank_with_popularity_hand_computed():
    scores = np.array([[0.9, 0.5, 0.4, 0.1]])
    bonus = np.array([0.0, 0.0, 1.0, 5.0])
    out = rerank_with_popularity(scores, np.array([0]), np.array([0]), bonus, candidates=2)
    np.testing.assert_array_equal(out, [[-np.inf, 0.5, 1.4, -np.inf]])  # item 3 is no candidate


def test_evaluate_model_reports_test_valid_and_cold_metrics():
    data = _data()
    factories = baseline_factories(data, InterestConfig(), recency_tau=5)
    cold = make_cold_split(data, fraction=0.34, seed=1)
    metrics = evaluate_model(factories["popularity"], data, cold)
    for key in ("HR@10", "NDCG@10", "valid_NDCG@10", "cold_HR@10", "warm_HR@10"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["cold_users"] + metrics["warm_users"] == metrics["n_users"] == 5
    table = markdown_table({"popularity": metrics})
    assert table.splitlines()[2].startswith("| popularity | ")
