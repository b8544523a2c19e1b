"""Tests for rec.ranking.multi_interest on clustered vectors (tests/cluster_catalogue.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cluster_catalogue import catalogue
from rec.interest.profile import UserProfile
from rec.ranking.multi_interest import MultiInterestMerge, interests_of, merge_by_share
from rec.storage.items_table import ScoredItem

VECTORS, TEXT = catalogue()


def _profile(recent: list[str], coefficients: list[float] | None = None) -> UserProfile:
    return UserProfile("u", None, frozenset(recent), tuple(recent), tuple(60.0 * n for n in range(len(recent))),
                       len(recent), recent_coefficients=tuple(coefficients or [1.0] * len(recent)))


def _pool(favoured: int, other: int) -> list[ScoredItem]:
    """A strategy's candidates that rank every item of cluster `favoured` above cluster `other`'s."""
    first = [ScoredItem(f"c{favoured}-{n}", "", 2.0 - 0.01 * n, []) for n in range(10, 40)]
    second = [ScoredItem(f"c{other}-{n}", "", 1.0 - 0.01 * n, []) for n in range(10, 40)]
    return first + second


def _clusters(items: list[ScoredItem]) -> list[str]:
    return [item.item_id.split("-")[0] for item in items]


def test_interests_are_the_clusters_with_their_weight() -> None:
    ids = [f"c0-{n}" for n in range(6)] + [f"c1-{n}" for n in range(3)] + ["c2-0"]
    matrix = np.stack([VECTORS[i] for i in ids])
    found = interests_of(matrix, np.ones(len(ids)), join=0.3, min_share=0.2, most=3)
    assert [round(i.share, 3) for i in found] == [round(6 / 9, 3), round(3 / 9, 3)]  # c2's one item is too small
    centre = matrix[:6].mean(axis=0)
    assert float(found[0].centroid @ (centre / np.linalg.norm(centre))) == pytest.approx(1.0, abs=1e-5)
    assert len(interests_of(matrix, np.ones(len(ids)), join=-1.0, min_share=0.2, most=3)) == 1  # all one group


def test_a_user_with_two_interests_gets_both_in_turn() -> None:
    recent = [f"c{n % 2}-{n // 2}" for n in range(10)]  # c0, c1, c0, c1, ...
    merge = MultiInterestMerge(TEXT, most=3, join=0.3, min_share=0.3, recent=20, candidates=60)
    pool = _pool(favoured=0, other=1)
    assert _clusters(pool[:10]) == ["c0"] * 10
    merged = merge.rerank(pool, 10, _profile(recent))
    assert _clusters(merged) == ["c0", "c1"] * 5
    # within an interest: the candidates nearest to it (strategy_weight 0); with the strategy's
    # score weighing all, every interest's list is the strategy's, and so is the merge
    centre = np.mean([VECTORS[f"c1-{n}"] for n in range(5)], axis=0)
    nearest = sorted((f"c1-{n}" for n in range(10, 40)), key=lambda i: -float(VECTORS[i] @ centre))[:5]
    assert [i.item_id for i in merged if i.item_id.startswith("c1")] == nearest
    by_strategy = MultiInterestMerge(TEXT, most=3, join=0.3, min_share=0.3, recent=20, candidates=60,
                                     strategy_weight=100.0).rerank(pool, 10, _profile(recent))
    assert by_strategy == pool[:10]


def test_one_interest_or_a_small_second_keeps_the_ranking() -> None:
    merge = MultiInterestMerge(TEXT, most=3, join=0.3, min_share=0.3, recent=20, candidates=60)
    pool = _pool(favoured=0, other=1)
    assert merge.rerank(pool, 10, _profile([f"c0-{n}" for n in range(8)])) == pool[:10]
    mostly = [f"c0-{n}" for n in range(8)] + ["c1-0"]  # one item of 9: below min_share
    assert merge.rerank(pool, 10, _profile(mostly)) == pool[:10]
    recent = [f"c{n % 2}-{n // 2}" for n in range(10)]
    off = MultiInterestMerge(TEXT, most=1, join=0.3, min_share=0.3, recent=20, candidates=60)
    assert off.rerank(pool, 10, _profile(recent)) == pool[:10]


def test_shares_follow_the_recency_weights() -> None:
    recent = [f"c{n % 2}-{n // 2}" for n in range(10)]
    weights = [3.0 if n % 2 == 0 else 1.0 for n in range(10)]  # c0's likes weigh 3 times c1's
    merge = MultiInterestMerge(TEXT, most=3, join=0.3, min_share=0.2, recent=20, candidates=60)
    merged = merge.rerank(_pool(favoured=1, other=0), 8, _profile(recent, weights))
    assert _clusters(merged).count("c0") == 6 and _clusters(merged).count("c1") == 2


def test_merge_by_share_alternates_and_gives_way_when_a_list_runs_out() -> None:
    a = [ScoredItem(f"a{n}", "", 1.0, []) for n in range(5)]
    b = [ScoredItem(f"b{n}", "", 1.0, []) for n in range(2)]
    assert [i.item_id for i in merge_by_share([a, b], [0.5, 0.5], 6)] == ["a0", "b0", "a1", "b1", "a2", "a3"]
