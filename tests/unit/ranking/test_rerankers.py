"""Tests for rec.ranking.rerankers, by hand-computed scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plane_items import DIM, IDS, VECTORS, X
from rec.interest.profile import UserProfile
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.rerankers import CalibrationReranker, Diversifier, PopularityReranker
from rec.storage.items_table import ScoredItem
from rec.storage.new_item_log import NewItem


def _item(item_id: str, score: float, popularity: float) -> ScoredItem:
    return ScoredItem(item_id, item_id.upper(), score, [], popularity)


def test_popularity_rerank_adds_weight_log1p_popularity_and_reorders():
    items = [_item("a", 0.9, 0.0), _item("b", 0.5, 0.0), _item("c", 0.4, math.e - 1)]
    reranked = PopularityReranker(weight=1.0, candidates=3).rerank(items, 2, None)
    assert [i.item_id for i in reranked] == ["c", "a"]
    assert reranked[0].score == pytest.approx(1.4)


def test_popularity_rerank_needs_its_candidates_and_applies_to_the_interest_vector():
    reranker = PopularityReranker(weight=0.1, candidates=400)
    assert reranker.pool(10, None) == 400 and reranker.pool(500, None) == 500
    assert reranker.applies_to == {"interest"}


def test_items_without_popularity_keep_their_score():
    item = _item("new", 0.3, 0.0)
    assert PopularityReranker(weight=5.0, candidates=1).rerank([item], 1, None) == [item]


def _catalog() -> Candidates:
    """Ten items: a0..a4 in A, b0..b4 in B (vectors unused here)."""
    items = InMemoryItems(2)
    catalog = [NewItem(f"{c}{n}", f"{c}{n}", categories=(c.upper(),)) for c in "ab" for n in range(5)]
    items.add(catalog, np.ones((10, 2)))
    return Candidates(items, InMemoryItems(2))


def _profile(recent: tuple[str, ...]) -> UserProfile:
    return UserProfile("u", None, frozenset(recent), recent, tuple(0.0 for _ in recent), len(recent))


def test_calibration_makes_the_mix_follow_the_recent_items():
    # B items score higher, but the last items liked were A, A, A, B: the mix should be 3/4 A.
    pool = [_item(f"b{n}", 1.0 - 0.01 * n, 0.0) for n in range(5)] + [_item(f"a{n}", 0.5 - 0.01 * n, 0.0)
                                                                      for n in range(5)]
    pool = [ScoredItem(i.item_id, i.title, i.score, [i.item_id[0].upper()]) for i in pool]
    profile = _profile(("a9", "a8", "a7", "b9"))  # ids outside the pool: only their categories count
    catalog = _catalog()
    catalog.new_items.add([NewItem(i, i, categories=(i[0].upper(),)) for i in ("a9", "a8", "a7", "b9")], np.ones((4, 2)))
    calibrated = CalibrationReranker(catalog, weight=0.9, recent=10, candidates=10).rerank(pool, 4, profile)
    assert sorted(i.item_id[0] for i in calibrated) == ["a", "a", "a", "b"]
    assert [i.item_id for i in calibrated if i.item_id.startswith("a")] == ["a0", "a1", "a2"]  # best first within A
    plain = CalibrationReranker(catalog, weight=0.0, recent=10, candidates=10).rerank(pool, 4, profile)
    assert [i.item_id for i in plain] == ["b0", "b1", "b2", "b3"]  # weight 0: the scores alone


def test_calibration_leaves_users_without_positive_history_alone():
    pool = [_item("b0", 1.0, 0.0), _item("a0", 0.5, 0.0)]
    reranker = CalibrationReranker(_catalog(), weight=0.9, recent=10, candidates=10)
    assert reranker.rerank(pool, 2, _profile(())) == pool and reranker.pool(2, _profile(())) == 2
    assert reranker.pool(2, _profile(("a1",))) == 10


def _mean_cosine(ids: list[str]) -> float:
    vectors = np.array([VECTORS[i] for i in ids])
    similarity = vectors @ vectors.T
    return float(similarity[np.triu_indices(len(ids), 1)].mean())


def test_the_diversifier_spreads_the_list_as_asked():
    items = InMemoryItems(DIM)
    items.add([NewItem(i, i.upper()) for i in IDS], np.array([VECTORS[i] for i in IDS]))
    text = Candidates(items, InMemoryItems(DIM))
    ranked = text.search(X, 10)  # i0 (0 degrees), i1 (15), ... i6 (90), then i7, i8 (90), i9 (180)
    diversifier = Diversifier(text, candidates=10)
    plain = [i.item_id for i in diversifier.rerank(ranked, 4, 0.0)]
    assert plain == ["i0", "i1", "i2", "i3"] and diversifier.pool(4, 0.0) == 4 and diversifier.pool(4, 0.5) == 10
    spreads = [_mean_cosine([i.item_id for i in diversifier.rerank(ranked, 4, d)]) for d in (0.0, 0.25, 0.5, 1.0)]
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] < spreads[0]
    assert [i.item_id for i in diversifier.rerank(ranked, 2, 1.0)] == ["i0", "i9"]  # the opposite of the first
