"""Tests for RankingPipeline.search_text: free text through the interest model, or by cosine."""

from __future__ import annotations

import numpy as np
import pytest

from base_config import BASE, changed
from cluster_catalogue import catalogue, random_model
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.pipeline import build_pipeline
from rec.ranking.strategies import RankRequest


@pytest.fixture(scope="module")
def setup():
    vectors, text = catalogue()
    queries, scoring = random_model(vectors)
    query = vectors["c3-0"] + vectors["c3-1"]
    return vectors, text, queries, scoring, (query / np.linalg.norm(query)).astype(np.float32)


def _pipeline(setup, history: int, blend: float, with_model: bool = True):
    vectors, text, queries, scoring, _ = setup
    interest = changed(BASE.interest, text_query_history=history, text_query_blend=blend, popularity_weight=0.0)
    model = (queries, Candidates(scoring, InMemoryItems(queries.dim)), "m/1") if with_model else None
    return build_pipeline(interest, text, [], model)


def _ids(ranking) -> list[str]:
    return [item.item_id for item in ranking.items]


def test_without_a_model_or_a_history_free_text_ranks_by_cosine(setup):
    _, text, _, _, query = setup
    by_cosine = _ids(_pipeline(setup, 5, 1.0).search("text", text, query, RankRequest(10)))
    assert _ids(_pipeline(setup, 0, 1.0).search_text(query, RankRequest(10))) == by_cosine
    assert _ids(_pipeline(setup, 5, 1.0, with_model=False).search_text(query, RankRequest(10))) == by_cosine


def test_the_model_reads_the_texts_nearest_items_as_a_history(setup):
    vectors, text, queries, scoring, query = setup
    nearest = [item.item_id for item in text.search(query, 5)]
    model_query = queries.query_vector(nearest[::-1], [60.0 * n for n in range(5)])  # the nearest read last
    by_model = [item.item_id for item in scoring.search(model_query, 10)]
    ranking = _pipeline(setup, 5, 0.0).search_text(query, RankRequest(10))
    assert ranking.strategy == "text" and ranking.model_version == "m/1"
    assert _ids(ranking) == by_model
    # The blend moves it towards the text: at a large weight, the cosine's own top items lead.
    towards_text = _ids(_pipeline(setup, 5, 50.0).search_text(query, RankRequest(10)))
    by_cosine = [item.item_id for item in text.search(query, 10)]
    assert towards_text != by_model
    assert len(set(towards_text[:5]) & set(by_cosine[:5])) >= 4


def _centre(vectors, cluster: int) -> np.ndarray:
    centre = np.mean([v for i, v in vectors.items() if i.startswith(f"c{cluster}-")], axis=0)
    return (centre / np.linalg.norm(centre)).astype(np.float32)


def _clusters(ranking) -> list[str]:
    return [item.item_id.split("-")[0] for item in ranking.items]


def test_a_text_naming_two_interests_gets_both_where_the_whole_text_leaves_one_out(setup):
    vectors, text, _, _, _ = setup
    horror, musicals = _centre(vectors, 0), _centre(vectors, 3)
    whole = 0.9 * horror + 0.1 * musicals  # the text's own vector leans to one interest
    whole /= np.linalg.norm(whole)
    pipeline = _pipeline(setup, 0, 1.0)
    by_cosine = pipeline.search_text(whole, RankRequest(10))
    assert _clusters(by_cosine).count("c3") < 3  # the second interest is left out
    split = pipeline.search_text(whole, RankRequest(10), [horror, musicals])
    assert split.strategy == "text"
    assert _clusters(split).count("c0") >= 4 and _clusters(split).count("c3") >= 4
    # Pages of it: the next page goes on where the first stopped.
    first_two = _ids(pipeline.search_text(whole, RankRequest(20), [horror, musicals]))
    second = _ids(pipeline.search_text(whole, RankRequest(10, offset=10), [horror, musicals]))
    assert first_two[:10] == _ids(split) and first_two[10:] == second


def test_a_text_whose_list_holds_each_interest_keeps_its_own_ranking(setup):
    vectors, text, _, _, _ = setup
    a, b = vectors["c1-0"], vectors["c1-1"]  # two facets of one interest
    whole = (a + b) / np.linalg.norm(a + b)
    pipeline = _pipeline(setup, 0, 1.0)
    assert _ids(pipeline.search_text(whole, RankRequest(10), [a, b])) == _ids(pipeline.search_text(whole, RankRequest(10)))
