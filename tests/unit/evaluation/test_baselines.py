"""Tests for rec.evaluation.baselines: hand-computed toy scores and the ML-100k anchors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rec.evaluation.baselines import (
    embedding_last_scores,
    embedding_mean_scores,
    embedding_recency_scores,
    history_weights,
    item_cosine_similarity,
    item_knn_scores,
    markov_scores,
    markov_transitions,
    popularity_scores,
    random_scores,
)
from rec.evaluation.metrics import evaluate_scores
from rec.evaluation.splits import IdIndex, leave_one_out_split, read_inter_file

ITEMS = IdIndex.from_ids(np.array(["i0", "i1", "i2", "i3", "i4"]))
SEQUENCES = {
    "u1": ["i0", "i1", "i2", "i3"],  # train i0 i1, valid i2, test i3
    "u2": ["i4", "i0", "i1"],  # train i4, valid i0, test i1
    "u3": ["i2", "i4", "i1", "i2"],  # train i2 i4, valid i1, test i2
    "u4": ["i0", "i3"],  # train only
}
S = 1 / math.sqrt(2)
# Unit embeddings: i0 = x, i1 = y, i2 = diagonal, i3 = -x, i4 = -y.
EMB = np.array([[1.0, 0.0], [0.0, 1.0], [S, S], [-1.0, 0.0], [0.0, -1.0]])
# Anchors from shared/anchors/quality.md (test split).
POP_ANCHOR = {"HR@10": 0.0859, "NDCG@10": 0.0449, "MRR@10": 0.0326, "HR@20": 0.1262, "NDCG@20": 0.0550}
KNN_ANCHOR = {"HR@10": 0.1124, "NDCG@10": 0.0619}


@pytest.fixture(scope="module")
def split():
    users, items, ts = [], [], []
    for user, seq in SEQUENCES.items():
        users += [user] * len(seq)
        items += seq
        ts += list(range(len(seq)))
    return leave_one_out_split(np.array(users), np.array(items), np.array(ts, float), np.arange(len(users)))


def test_popularity_counts_train_only(split):
    scores = popularity_scores(split, ITEMS)(np.array(["u1", "u3"]))
    assert scores.tolist() == [[2, 1, 1, 1, 2]] * 2


def test_random_scores_shape_and_seed():
    a = random_scores(5, seed=1)(np.array(["u1", "u2"]))
    b = random_scores(5, seed=1)(np.array(["u1", "u2"]))
    assert a.shape == (2, 5) and np.array_equal(a, b)


def test_history_weights(split):
    table = split.history_table(ITEMS, include_valid=True)
    u1 = np.array(["u1"])
    assert history_weights(table, u1, 5, "binary").tolist() == [[1, 1, 1, 0, 0]]
    assert history_weights(table, u1, 5, "last").tolist() == [[0, 0, 1, 0, 0]]
    expected = [math.exp(-0.4), math.exp(-0.2), 1.0, 0.0, 0.0]
    assert history_weights(table, u1, 5, "recency", tau=5.0)[0] == pytest.approx(expected)


def test_item_cosine_by_hand(split):
    # train sets: u1 {i0,i1}, u2 {i4}, u3 {i2,i4}, u4 {i0,i3}
    sim = item_cosine_similarity(split, ITEMS, k=100)
    expected = np.zeros((5, 5))
    for i, j in [(0, 1), (0, 3), (2, 4)]:
        expected[i, j] = expected[j, i] = S
    assert sim == pytest.approx(expected, rel=1e-5)
    shrunk = item_cosine_similarity(split, ITEMS, k=100, shrink=1.0)
    assert shrunk[0, 1] == pytest.approx(1 / (math.sqrt(2) + 1), rel=1e-5)


def test_item_cosine_pruning_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 600
    users, items = rng.integers(0, 40, n), rng.integers(0, 30, n)
    sp = leave_one_out_split(users, items, rng.random(n), np.arange(n))
    index = IdIndex.from_ids(items)
    full = item_cosine_similarity(sp, index, k=len(index))
    pruned = item_cosine_similarity(sp, index, k=5)
    assert ((pruned != 0).sum(axis=0) <= 5).all()
    kept = pruned != 0
    assert np.array_equal(pruned[kept], full[kept])
    # every kept entry is at least as large as every dropped entry of its column
    for j in range(len(index)):
        if kept[:, j].any():
            assert full[kept[:, j], j].min() >= full[~kept[:, j], j].max() - 1e-6


def test_item_knn_scores_by_hand(split):
    u1 = np.array(["u1"])
    train_only = item_knn_scores(split, ITEMS, include_valid=False)(u1)
    assert train_only[0] == pytest.approx([S, S, 0, S, 0], rel=1e-5)
    with_valid = item_knn_scores(split, ITEMS, include_valid=True)(u1)  # adds i2 -> i4
    assert with_valid[0] == pytest.approx([S, S, 0, S, S], rel=1e-5)


def test_embedding_mean(split):
    scores = embedding_mean_scores(split, ITEMS, EMB)(np.array(["u1"]))  # history i0 i1 i2
    assert scores[0] == pytest.approx([S, S, 1, -S, -S], abs=1e-6)
    scaled = embedding_mean_scores(split, ITEMS, 3 * EMB)(np.array(["u1"]))
    assert scaled == pytest.approx(scores, abs=1e-6)


def test_embedding_last(split):
    with_valid = embedding_last_scores(split, ITEMS, EMB)(np.array(["u1"]))  # last = i2
    assert with_valid[0] == pytest.approx([S, S, 1, -S, -S], abs=1e-6)
    train_only = embedding_last_scores(split, ITEMS, EMB, include_valid=False)(np.array(["u1"]))
    assert train_only[0] == pytest.approx([0, 1, S, 0, -1], abs=1e-6)  # last = i1


def test_embedding_recency(split):
    fn = embedding_recency_scores(split, ITEMS, EMB, tau=1.0, include_valid=False)
    scores = fn(np.array(["u1"]))  # history i0 (weight e^-1), i1 (weight 1)
    norm = math.sqrt(math.exp(-2) + 1)
    a, b = math.exp(-1) / norm, 1 / norm
    assert scores[0] == pytest.approx([a, b, S * (a + b), -a, -b], abs=1e-6)


def test_embedding_shape_checked(split):
    with pytest.raises(ValueError):
        embedding_mean_scores(split, ITEMS, EMB[:4])


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path):
    path = ml100k_dir / "ml-100k.inter"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return read_inter_file(path)


def _split_and_index(events, as_int: bool):
    users, items = events.user_id, events.item_id
    if as_int:
        users, items = users.astype(np.int64), items.astype(np.int64)
    return leave_one_out_split(users, items, events.timestamp, events.line), IdIndex.from_ids(items)


def test_ml100k_popularity_close_to_anchor(ml100k):
    sp, index = _split_and_index(ml100k, as_int=False)
    metrics = evaluate_scores(popularity_scores(sp, index), sp, index)  # pessimistic ties
    assert metrics["n_users"] == 943
    assert metrics["HR@10"] == pytest.approx(POP_ANCHOR["HR@10"], abs=0.003)
    assert metrics["NDCG@10"] == pytest.approx(POP_ANCHOR["NDCG@10"], abs=0.002)


def test_ml100k_popularity_reproduces_anchor_with_index_ties(ml100k):
    # The anchor ranked with a stable sort over integer item ids (lower id wins ties).
    sp, index = _split_and_index(ml100k, as_int=True)
    metrics = evaluate_scores(popularity_scores(sp, index), sp, index, ties="index")
    for name, value in POP_ANCHOR.items():
        assert round(metrics[name], 4) == value, name


def test_ml100k_item_knn_close_to_recbole(ml100k):
    sp, index = _split_and_index(ml100k, as_int=False)
    fn = item_knn_scores(sp, index, k=100, shrink=0.0, include_valid=False)
    metrics = evaluate_scores(fn, sp, index)
    for name, value in KNN_ANCHOR.items():
        assert metrics[name] == pytest.approx(value, abs=0.003), name


def test_markov_transitions_by_hand(split):
    # train: u1 i0 -> i1, u3 i2 -> i4, u4 i0 -> i3, u2 i4 alone; popularity share p = [2, 1, 1, 1, 2] / 7
    p = np.array([2, 1, 1, 1, 2]) / 7
    transitions = markov_transitions(split, ITEMS, alpha=1.0)
    assert transitions[0] == pytest.approx((np.array([0, 1, 0, 1, 0]) + p) / 3)
    assert transitions[4] == pytest.approx(p)  # never followed by anything: popularity alone
    assert transitions.sum(axis=1) == pytest.approx(np.ones(5))
    # u1 scores test from train + valid (i0 i1 i2): its last item is i2, followed once by i4
    scores = markov_scores(split, ITEMS, alpha=1.0)(np.array(["u1"]))
    assert scores[0] == pytest.approx((np.array([0, 0, 0, 0, 1]) + p) / 2)
