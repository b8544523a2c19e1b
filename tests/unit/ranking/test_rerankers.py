"""Tests for rec.ranking.rerankers, by hand-computed scores."""

from __future__ import annotations

import math

import pytest

from rec.ranking.rerankers import PopularityReranker
from rec.storage.items_table import ScoredItem


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
