"""rec/evaluation/harness.py on a small synthetic log where the answers are known."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from base_config import BASE, changed
from rec.evaluation.harness import (
    baseline_factories, build_eval_data, evaluate_model, interest_rule_scores, make_cold_split, markdown_table,
)

DIM = 8


def _data():
    # 6 items near the axes of an 8-d space, each leaning towards the next; every user walks
    # i0 -> i1 -> ... in order.
    item_ids = [f"i{j}" for j in range(6)]
    vectors = np.eye(DIM, dtype=np.float32)[:6] + 0.5 * np.eye(DIM, k=1, dtype=np.float32)[:6]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
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


def _top(score_fn, user: str, data, n: int = 3) -> list[str]:
    scores = score_fn(np.asarray([user]))[0]
    return [str(data.item_index.ids[c]) for c in np.argsort(-scores, kind="stable")[:n]]


def test_interest_rule_uses_validation_item_only_when_asked():
    data = _data()  # u0: train i0 i1, valid i2, test i3
    cosine = changed(BASE.interest, popularity_weight=0)  # the vector's own scores
    train_only = _top(interest_rule_scores(data, data.split, False, cosine), "u0", data)
    with_valid = _top(interest_rule_scores(data, data.split, True, cosine), "u0", data)
    assert train_only[0] == "i2"  # nearest to the latest item, i1; seen i0 and i1 left out
    assert with_valid[0] == "i3" and "i2" not in with_valid


def test_interest_rule_ranks_as_the_service_with_popularity():
    """Seen items out, then the best `popularity_candidates` by cosine + w * log(1 + train count)."""
    data = _data()
    heavy = changed(BASE.interest, popularity_weight=10.0, popularity_candidates=6)  # popularity decides
    top = _top(interest_rule_scores(data, data.split, False, heavy), "u0", data, n=4)
    counts = {item: int((data.split.train.item_id == item).sum()) for item in data.item_index.ids}
    assert "i0" not in top and "i1" not in top
    assert [counts[i] for i in top] == sorted((counts[i] for i in top), reverse=True)
    narrow = changed(BASE.interest, popularity_weight=10.0, popularity_candidates=1)  # only the nearest is a candidate
    assert _top(interest_rule_scores(data, data.split, False, narrow), "u0", data, n=1) == ["i2"]


def test_evaluate_model_reports_test_valid_and_cold_metrics():
    data = _data()
    factories = baseline_factories(data, BASE.interest, recency_tau=5)
    cold = make_cold_split(data, fraction=0.34, seed=1)
    metrics = evaluate_model(factories["popularity"], data, cold)
    for key in ("HR@10", "NDCG@10", "valid_NDCG@10", "cold_HR@10", "warm_HR@10"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["cold_users"] + metrics["warm_users"] == metrics["n_users"] == 5
    table = markdown_table({"popularity": metrics})
    assert table.splitlines()[2].startswith("| popularity | ")


def test_the_diversity_curve_starts_at_the_plain_ranking_and_spreads_the_lists():
    from rec.evaluation.diversity import diversity_curve, diversity_table
    from rec.evaluation.metrics import evaluate_scores

    data, interest = _data(), changed(BASE.interest, diversity_candidates=6)
    rows = diversity_curve(lambda config: interest_rule_scores(data, data.split, True, config), data, interest,
                           (0.0, 1.0))
    plain = evaluate_scores(interest_rule_scores(data, data.split, True, interest), data.split, data.item_index)
    assert rows[0].ndcg == plain["NDCG@10"] and rows[0].diversity == 0.0
    assert rows[1].intra_list >= rows[0].intra_list
    assert diversity_table(rows).count("\n") == 3
