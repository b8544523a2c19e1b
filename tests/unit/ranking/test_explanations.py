"""Tests for rec.ranking.explanations: reasons are faithful. For many users, an item's top
reason is removed from the user's events, the state is rebuilt from the rest by the
service's rule (or the model reads the rest), and the item's score must fall."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from base_config import BASE, changed
from cluster_catalogue import DIM, PER_CLUSTER, catalogue, random_model
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.pipeline import build_pipeline
from rec.ranking.strategies import RankRequest

CONFIG = changed(BASE.interest, popularity_weight=0.0)


def _events(rng: np.random.Generator, vectors: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
    ids, now, events = list(vectors), 1000.0, []
    for _ in range(int(rng.integers(3, 15))):
        now += float(rng.exponential(3600))
        kind = str(rng.choice(["like", "click", "view", "purchase", "dislike"], p=[0.4, 0.25, 0.15, 0.1, 0.1]))
        events.append((str(rng.choice(ids[: 2 * PER_CLUSTER])), kind, now))  # two clusters: mixed interests
    return events


def _state(events, vectors) -> InterestState:
    state = InterestState.empty(DIM)
    for item, kind, ts in events:
        apply_event(state, item, vectors[item], kind, ts, CONFIG)
    return state


def test_removing_the_top_reason_lowers_the_score_by_the_per_event_rule():
    vectors, text = catalogue()
    pipeline = build_pipeline(CONFIG, text, [])
    rng = np.random.default_rng(1)
    falls, checked, unexplained = 0, 0, 0
    for user in range(60):
        events = _events(rng, vectors)
        profile = user_profile(f"u{user}", _state(events, vectors))
        ranking = pipeline.recommend(profile, RankRequest(10))
        if ranking.strategy != "interest":
            continue
        for item, reasons in zip(ranking.items, pipeline.explain(profile, ranking)):
            if not reasons:  # no removal lowers it (a far item, listed as the least bad)
                unexplained += 1
                continue
            assert [r.contribution for r in reasons] == sorted((r.contribution for r in reasons), reverse=True)
            top = reasons[0].item_id
            rebuilt = _state([e for e in events if e[0] != top], vectors)
            after = user_profile("again", rebuilt)
            score = 0.0 if after.interest is None else float(vectors[item.item_id] @ after.interest)
            checked += 1
            falls += score < float(vectors[item.item_id] @ profile.interest)  # the strategy's score, before re-ranks
    print(f"\n{falls} of {checked} scores fell without their top reason; {unexplained} items without a reason")
    assert checked >= 300 and unexplained <= checked / 10
    assert falls / checked >= 0.95, f"the score fell for only {falls} of {checked} items"


def test_a_stated_interest_is_a_reason_and_removing_it_lowers_the_score():
    vectors, text = catalogue()
    pipeline = build_pipeline(changed(CONFIG, stated_half_life_events=3), text, [])
    stated = vectors["c2-0"]  # the user said they like cluster 2, then liked a film of cluster 0
    profile = replace(user_profile("u", _state([("c0-1", "like", 1000.0)], vectors), stated_text="cluster two"),
                      stated=stated)
    ranking = pipeline.recommend(profile, RankRequest(5))
    reasons = pipeline.explain(profile, ranking)
    first = ranking.items[0]
    assert first.item_id.startswith("c2-") and reasons[0][0].item_id is None  # because of what they said
    without = pipeline.recommend(replace(profile, stated=None, stated_text=""), RankRequest(400))
    assert next(i.score for i in without.items if i.item_id == first.item_id) < first.score
    assert reasons[0][0].contribution == pytest.approx(first.score - next(
        i.score for i in without.items if i.item_id == first.item_id), abs=1e-5)


def test_popular_items_have_no_reasons():
    vectors, text = catalogue()
    popular = [replace(i, score=1.0) for i in text.search(vectors["c0-0"], 5)]
    pipeline = build_pipeline(CONFIG, text, popular)
    profile = user_profile("new", None)
    ranking = pipeline.recommend(profile, RankRequest(5))
    assert ranking.strategy == "popular" and pipeline.explain(profile, ranking) == [()] * 5


def test_with_the_model_removing_the_top_reason_from_the_history_lowers_the_score():
    vectors, text = catalogue()
    queries, scoring = random_model(vectors)
    pipeline = build_pipeline(CONFIG, text, [], (queries, Candidates(scoring, InMemoryItems(queries.dim)), "m/1"))
    rng = np.random.default_rng(2)
    falls, checked = 0, 0
    for user in range(30):
        events = _events(rng, vectors)
        profile = user_profile(f"u{user}", _state(events, vectors))
        ranking = pipeline.recommend(profile, RankRequest(10))
        assert ranking.strategy == "interest-model"
        full = queries.query_vector(profile.recent_items, profile.recent_timestamps)
        for item, reasons in zip(ranking.items, pipeline.explain(profile, ranking)):
            if not reasons:
                continue
            vector = scoring.vectors([item.item_id])[item.item_id]
            kept = [(i, t) for i, t in zip(profile.recent_items, profile.recent_timestamps) if i != reasons[0].item_id]
            query = queries.query_vector([i for i, _ in kept], [t for _, t in kept]) if kept else None
            before, after = float(vector @ full), 0.0 if query is None else float(vector @ query)
            assert before - after == pytest.approx(reasons[0].contribution, abs=1e-4)  # exact leave-one-out
            checked += 1
            falls += after < before
    assert checked >= 150 and falls == checked


def test_an_answer_to_a_query_is_explained_by_the_sources_it_is_closest_to():
    from rec.ranking.explanations import Reason, query_reasons

    space, musicals = np.eye(3)[0], np.eye(3)[1]
    items = np.array([[0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    sources = [(Reason(None, 0.0, "space adventures"), space), (Reason(None, 0.0, "old musicals"), musicals)]
    first, second, unrelated = query_reasons(items, sources)
    assert [(r.text, round(r.contribution, 4)) for r in first] == [("space adventures", 0.8), ("old musicals", 0.6)]
    assert [r.text for r in second] == ["old musicals", "space adventures"]
    assert unrelated == []  # owes nothing to either: no reason
    assert query_reasons(np.zeros((0, 3)), sources) == []
