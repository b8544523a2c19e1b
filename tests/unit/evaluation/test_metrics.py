"""Tests for rec.evaluation.metrics with hand-computed ranks on a 3-user toy set."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from rec.evaluation.metrics import (
    catalogue_coverage,
    evaluate_scores,
    hit_rate_at_k,
    intra_list_diversity,
    mask_excluded,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    rank_targets,
    rank_users,
    summarize,
)
from rec.evaluation.splits import IdIndex, leave_one_out_split

ITEMS = IdIndex.from_ids(np.array(["i0", "i1", "i2", "i3", "i4"]))
# Per user, chronological: train..., valid, test. u4 has 2 events: train only.
SEQUENCES = {
    "u1": ["i0", "i1", "i2", "i3"],  # train i0 i1, valid i2, test i3
    "u2": ["i4", "i0", "i1"],  # train i4, valid i0, test i1
    "u3": ["i2", "i4", "i1", "i2"],  # train i2 i4, valid i1, test i2 (seen before!)
    "u4": ["i0", "i3"],
}
SCORES = {  # columns i0..i4
    "u1": [0.9, 0.8, 0.7, 0.6, 0.5],
    "u2": [0.1, 0.2, 0.3, 0.35, 0.9],
    "u3": [0.5, 0.9, 0.5, 0.4, 0.0],
    "u4": [0.0, 0.0, 0.0, 0.0, 0.0],
}
# Test ranks by hand (excluded: train + valid item; target never excluded):
#   u1: target i3 (0.6); left i3, i4 (0.5)           -> rank 0
#   u2: target i1 (0.2); left i1, i2 (0.3), i3 (0.35) -> rank 2
#   u3: target i2 (0.5); left i0 (0.5 tie), i2, i3    -> rank 1
TEST_RANKS = [0, 2, 1]
# Valid ranks (excluded: train only): u1 i2 -> 0, u2 i0 (0.1, below i1 i2 i3) -> 3, u3 i1 -> 0
VALID_RANKS = [0, 3, 0]


def toy_split():
    """The toy sequences as a leave-one-out split (timestamps = positions)."""
    users, items, ts = [], [], []
    for user, seq in SEQUENCES.items():
        users += [user] * len(seq)
        items += seq
        ts += list(range(len(seq)))
    lines = np.arange(len(users))
    return leave_one_out_split(np.array(users), np.array(items), np.array(ts, float), lines)


def toy_score_fn(user_ids: np.ndarray) -> np.ndarray:
    return np.array([SCORES[u] for u in user_ids])  # (B, 5)


def test_metric_formulas_by_hand():
    ranks = np.array([0, 3, 12])
    assert hit_rate_at_k(ranks, 10) == pytest.approx(2 / 3)
    assert ndcg_at_k(ranks, 10) == pytest.approx((1 + 1 / math.log2(5)) / 3)
    assert mrr_at_k(ranks, 10) == pytest.approx((1 + 1 / 4) / 3)
    assert hit_rate_at_k(ranks, 20) == pytest.approx(1.0)
    assert ndcg_at_k(ranks, 20) == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(14)) / 3)
    assert mrr_at_k(ranks, 20) == pytest.approx((1 + 1 / 4 + 1 / 13) / 3)
    assert math.isnan(hit_rate_at_k(np.array([]), 10))


def test_rank_ties_count_against_target():
    scores = np.array([[0.5, 0.9, 0.5, 0.1], [0.5, 0.9, 0.5, 0.1], [1.0, 1.0, 1.0, 1.0]])
    targets = np.array([0, 2, 3])
    assert rank_targets(scores, targets).tolist() == [2, 2, 3]
    # Index tie-break: only equal scores in lower columns beat the target.
    assert rank_targets(scores, targets, ties="index").tolist() == [1, 2, 3]


def test_rank_nan_scores_are_minus_inf():
    scores = np.array([[np.nan, 0.2, 0.1], [np.nan, 0.2, 0.1]])
    assert rank_targets(scores, np.array([2, 0])).tolist() == [1, 2]


def test_mask_excluded_keeps_target():
    scores = np.array([[3.0, 2.0, 1.0], [1.0, np.nan, 2.0]])
    mask_excluded(scores, np.array([0, 0, 1]), np.array([0, 1, 2]), np.array([0, 1]))
    assert scores[0].tolist() == [3.0, -np.inf, 1.0]
    assert scores[1].tolist() == [1.0, -np.inf, -np.inf]


def test_catalogue_coverage():
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), 5) == pytest.approx(0.6)
    assert catalogue_coverage([[4], [4, 3]], 4 + 1) == pytest.approx(0.4)


def test_toy_test_ranks_and_metrics():
    split = toy_split()
    result = rank_users(toy_score_fn, split, ITEMS, target="test", batch_size=2, top_k=2)
    assert result.user_ids.tolist() == ["u1", "u2", "u3"]
    assert result.ranks.tolist() == TEST_RANKS
    assert [set(row) for row in result.top_k.tolist()] == [{3, 4}, {2, 3}, {0, 2}]
    metrics = evaluate_scores(toy_score_fn, split, ITEMS, ks=(1, 3), coverage_k=2)
    assert metrics["n_users"] == 3
    assert metrics["HR@1"] == pytest.approx(1 / 3)
    assert metrics["NDCG@1"] == pytest.approx(1 / 3)
    assert metrics["MRR@1"] == pytest.approx(1 / 3)
    assert metrics["HR@3"] == pytest.approx(1.0)
    assert metrics["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(3)) / 3)
    assert metrics["MRR@3"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert metrics["coverage@2"] == pytest.approx(4 / 5)


def test_toy_valid_target_excludes_train_only():
    result = rank_users(toy_score_fn, toy_split(), ITEMS, target="valid")
    assert result.ranks.tolist() == VALID_RANKS


def test_user_mask_and_summarize_subsets():
    split = toy_split()
    result = rank_users(toy_score_fn, split, ITEMS, top_k=2)
    mask = np.array([False, True, True])
    sub = summarize(result, ks=(2,), coverage_k=2, user_mask=mask)
    assert sub["n_users"] == 2
    assert sub["HR@2"] == pytest.approx(0.5)  # ranks 2 and 1
    assert sub["coverage@2"] == pytest.approx(3 / 5)  # {i0, i2, i3}
    direct = evaluate_scores(toy_score_fn, split, ITEMS, ks=(2,), coverage_k=2, user_mask=mask)
    assert direct == sub


def test_constant_scores_rank_target_last():
    split = toy_split()
    result = rank_users(lambda u: np.zeros((len(u), 5)), split, ITEMS)
    # every other non-excluded item ties: u1 {i4}, u2 {i2, i3}, u3 {i0, i3}
    assert result.ranks.tolist() == [1, 2, 2]


def test_bad_score_shape_raises():
    with pytest.raises(ValueError):
        rank_users(lambda u: np.zeros((len(u), 4)), toy_split(), ITEMS)


def test_full_size_evaluation_is_fast():
    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 943, 1682, 100
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, size=users.size)
    split = leave_one_out_split(users, items, rng.random(users.size), np.arange(users.size))
    index = IdIndex(np.arange(n_items))
    item_bias = rng.random(n_items)
    start = time.perf_counter()
    metrics = evaluate_scores(lambda u: np.tile(item_bias, (len(u), 1)), split, index)
    elapsed = time.perf_counter() - start
    assert metrics["n_users"] == n_users
    assert elapsed < 1.5, f"evaluation took {elapsed:.2f}s"


def test_intra_list_diversity_and_novelty_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # items 0 and 2 alike, 1 orthogonal
    assert intra_list_diversity(np.array([[0, 2]]), vectors) == pytest.approx(0.0)
    assert intra_list_diversity(np.array([[0, 1], [0, 2]]), vectors) == pytest.approx(0.5)
    assert intra_list_diversity(np.array([[0, 1, 2]]), vectors) == pytest.approx(2 / 3)
    counts = np.array([5.0, 1.0, 0.0])  # shares (c + 1) / 9: 6/9, 2/9, 1/9
    assert novelty(np.array([[0, 2]]), counts) == pytest.approx(np.mean([-np.log2(6 / 9), -np.log2(1 / 9)]))
