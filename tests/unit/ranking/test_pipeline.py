"""Tests for rec.ranking.pipeline: the policy, the re-ranker chain, and that the offline
harness ranks a user exactly as the service's pipeline over the LanceDB table does."""

from __future__ import annotations

import math

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from base_config import BASE, changed
from plane_items import DIM, IDS, POPULARITY, VECTORS, X, item_rows
from rec.config import InterestConfig
from rec.evaluation.harness import build_eval_data, catalog_candidates, pipeline_score_fn, split_profiles
from rec.interest.profile import UserProfile
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.pipeline import build_pipeline
from rec.ranking.strategies import RankRequest
from rec.catalog.filters import year_range
from rec.storage.items_table import ItemStore
from rec.storage.new_item_log import NewItem

COSINE = changed(BASE.interest, popularity_weight=0)


@pytest.fixture
def store(tmp_path) -> ItemStore:
    rows = item_rows(VECTORS, encoder="enc/1")
    uri = str(tmp_path / "lancedb")
    lancedb.connect(uri).create_table("items", data=rows)
    return ItemStore(uri, "items")


def _profile(interest: np.ndarray | None, seen: set[str] = frozenset()) -> UserProfile:
    return UserProfile("u", interest, frozenset(seen), tuple(seen), tuple(0.0 for _ in seen), len(seen), "enc/1")


def _served(store: ItemStore, config: InterestConfig = COSINE, new_items: InMemoryItems | None = None):
    """The pipeline as serve/live.py builds it over a pinned table."""
    return build_pipeline(config, Candidates(store, new_items or InMemoryItems(DIM)), store.popular(100))


def test_the_policy_names_the_strategy_that_answered(store):
    pipeline = _served(store)
    with_interest = pipeline.recommend(_profile(X, {"i0"}), RankRequest(3))
    assert with_interest.strategy == "interest"
    assert [i.item_id for i in with_interest.items] == ["i1", "i2", "i3"]  # seen i0 left out
    cold = pipeline.recommend(_profile(None), RankRequest(3, categories=frozenset({"Comedy"})))
    assert cold.strategy == "popular" and [i.item_id for i in cold.items] == ["i4", "i8", "i6"]


def test_a_year_range_applies_to_every_strategy_and_to_new_items(store):
    new_items = InMemoryItems(DIM)
    new_items.add([NewItem("new-2001", "New", year=2001), NewItem("new-undated", "Undated")],
                  np.asarray([[0.99, 0.1, 0.0, 0.0], [0.98, 0.1, 0.0, 0.0]]))
    pipeline = _served(store, new_items=new_items)
    nineties = year_range(1993, 1996)  # i3..i6
    by_interest = pipeline.recommend(_profile(X), RankRequest(3, filters=nineties))
    assert [i.item_id for i in by_interest.items] == ["i3", "i4", "i5"]
    popular = pipeline.recommend(_profile(None), RankRequest(3, filters=nineties))
    assert popular.strategy == "popular" and [i.item_id for i in popular.items] == ["i4", "i6", "i3"]
    recent = pipeline.recommend(_profile(X), RankRequest(2, filters=year_range(1999)))
    assert [(i.item_id, i.year) for i in recent.items] == [("new-2001", 2001), ("i9", 1999)]  # undated: left out
    similar = pipeline.search("similar", pipeline.strategies[0].candidates, X, RankRequest(2, filters=nineties))
    assert [i.item_id for i in similar.items] == ["i3", "i4"]


def test_popularity_rerank_applies_to_the_interest_vector_after_filters(store):
    pipeline = _served(store, changed(BASE.interest, popularity_weight=0.1, popularity_candidates=5))
    ranking = pipeline.recommend(_profile(X), RankRequest(3))
    # The best 5 by dot product with x are i0..i4; + 0.1 * log(1 + popularity) reorders them.
    assert [r.item_id for r in ranking.items] == ["i1", "i0", "i4"]
    for r in ranking.items:
        assert r.score == pytest.approx(float(np.dot(VECTORS[r.item_id], X)) + 0.1 * math.log1p(POPULARITY[r.item_id]),
                                        abs=1e-5)
    # Exclusions apply before the candidates are taken: 1 + 0.1 log 6 = 1.18, then 0.5 + 0.1 log 101 = 0.96.
    assert [r.item_id for r in pipeline.recommend(_profile(X, {"i1"}), RankRequest(2)).items] == ["i0", "i4"]
    # Only candidates are re-ranked: with 2 of them, popular i4 (60 degrees) cannot come in.
    narrow = _served(store, changed(BASE.interest, popularity_weight=0.1, popularity_candidates=2))
    assert [r.item_id for r in narrow.recommend(_profile(X), RankRequest(2)).items] == ["i1", "i0"]
    # A query search (free text, similar items) is not re-ranked by popularity.
    assert [r.item_id for r in pipeline.search("text", pipeline.strategies[0].candidates, X, RankRequest(2)).items] == [
        "i0", "i1"]


def test_new_items_rank_beside_the_pinned_table_by_the_same_score(store):
    new_items = InMemoryItems(DIM)
    new_items.add([NewItem("new", "New", categories=("Drama",))], np.asarray([[0.99, 0.1, 0.0, 0.0]]))
    ranking = _served(store, new_items=new_items).recommend(_profile(X), RankRequest(3))
    assert [i.item_id for i in ranking.items] == ["i0", "new", "i1"]
    only_drama = _served(store, new_items=new_items).recommend(_profile(X), RankRequest(2, frozenset({"Drama"})))
    assert [i.item_id for i in only_drama.items] == ["new", "i1"]


@pytest.mark.parametrize("config", [COSINE, changed(BASE.interest, popularity_weight=0.05, popularity_candidates=6)])
def test_the_harness_ranks_each_user_as_the_service_pipeline_does(store, config):
    """rec/evaluation/harness.py's score function and the served pipeline give one ranking."""
    rng = np.random.default_rng(0)
    rows = [{"user_id": f"u{u}", "item_id": str(item), "timestamp": 100 * step, "line": u * 10 + step}
            for u in range(6) for step, item in enumerate(rng.choice(IDS, size=5, replace=False))]
    matrix = np.asarray([VECTORS[i] for i in IDS], dtype=np.float32)
    data = build_eval_data(pa.Table.from_pylist(rows), IDS, matrix)
    profiles = split_profiles(data, data.split, True, config, history_length=200)
    served = build_pipeline(config, Candidates(store, InMemoryItems(DIM)), store.popular(100))
    offline = build_pipeline(config, catalog_candidates(data, data.item_vectors, np.array(
        [POPULARITY[str(i)] for i in data.item_index.ids], dtype=float)), store.popular(100))
    users = data.split.test.user_id
    scores = pipeline_score_fn(offline, profiles, data.item_index, k=4)(users)  # (B, N)
    for row, user in enumerate(users):
        online = [i.item_id for i in served.recommend(profiles(str(user)), RankRequest(4)).items]
        listed = np.argsort(-scores[row], kind="stable")[: len(online)]
        assert [str(data.item_index.ids[c]) for c in listed] == online


def test_items_like_a_dislike_fall_whatever_the_strategy(store):
    """Disliked i0: its neighbours i1 (15 degrees) and i2 (30) fall below unrelated items."""
    pipeline = _served(store, changed(BASE.interest, dislike_weight=1.0, dislike_floor=0.5, dislike_candidates=100))
    liked = _profile(X)
    disliked = UserProfile("u", X, frozenset({"i0"}), (), (), 1, "enc/1", recent_negatives=("i0",))
    before = [i.item_id for i in pipeline.recommend(liked, RankRequest(9)).items]
    after = [i.item_id for i in pipeline.recommend(disliked, RankRequest(9)).items]
    assert before[:3] == ["i0", "i1", "i2"]
    assert after[:2] == ["i4", "i5"]  # cosine 0.5 with i0 or less: no penalty
    assert after.index("i1") > after.index("i3") > after.index("i5")  # the closer to i0, the further down
    cold = UserProfile("new", None, frozenset({"i4"}), (), (), 1, "enc/1", recent_negatives=("i4",))
    popular = [i.item_id for i in pipeline.recommend(cold, RankRequest(3)).items]
    # by popularity i1, i8, i6; i6, 30 degrees from the disliked i4, falls below i0 (60 degrees away)
    assert popular == ["i1", "i8", "i0"]


def test_without_dislikes_the_dislike_reranker_changes_nothing(store):
    plain = _served(store, changed(BASE.interest, dislike_weight=0.0))
    with_reranker = _served(store, changed(BASE.interest, dislike_weight=1.0))
    for profile in (_profile(X, {"i1"}), _profile(None)):
        assert plain.recommend(profile, RankRequest(5)) == with_reranker.recommend(profile, RankRequest(5))


def _stated_profile(stated: np.ndarray, behaviour: np.ndarray | None, positive_events: int) -> UserProfile:
    history = tuple(f"elsewhere{n}" for n in range(positive_events))  # not in the table
    return UserProfile("u", behaviour, frozenset(history), history, tuple(0.0 for _ in history), positive_events,
                       "enc/1", stated_text="what they said", stated=stated)


def test_a_stated_interest_answers_at_once_and_gives_way_to_behaviour(store):
    pipeline = _served(store, changed(COSINE, stated_half_life_events=3))
    y = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32)
    top = lambda profile: [i.item_id for i in pipeline.recommend(profile, RankRequest(2)).items]  # noqa: E731
    fresh = pipeline.recommend(_stated_profile(X, None, 0), RankRequest(2))
    assert fresh.strategy == "interest" and [i.item_id for i in fresh.items] == ["i0", "i1"]  # the statement alone
    assert top(_stated_profile(X, y, 3)) == ["i3", "i2"]  # half and half: 45 degrees
    assert top(_stated_profile(X, y, 30)) == ["i6", "i5"]  # behaviour has taken over
    assert top(_profile(y)) == ["i6", "i5"]  # nothing stated: behaviour alone


def test_a_page_is_the_slice_of_the_longer_ranking(store):
    pipeline = _served(store, changed(BASE.interest, popularity_weight=0.1, popularity_candidates=8))
    whole = [i.item_id for i in pipeline.recommend(_profile(X, {"i0"}), RankRequest(6)).items]
    pages = [[i.item_id for i in pipeline.recommend(_profile(X, {"i0"}), RankRequest(3, offset=o)).items]
             for o in (0, 3)]
    assert pages[0] + pages[1] == whole and len(whole) == 6
    text = pipeline.strategies[0].candidates
    assert [i.item_id for i in pipeline.search("text", text, X, RankRequest(2, offset=2)).items] == ["i2", "i3"]
