"""rec/evaluation/faithfulness.py: the share of explained items whose score falls without their top reason."""

from __future__ import annotations

from base_config import BASE
from cluster_catalogue import catalogue
from rec.evaluation.faithfulness import explanation_faithfulness
from rec.ranking.pipeline import build_pipeline


def test_reasons_of_the_per_event_vector_are_faithful():
    vectors, candidates = catalogue()
    pipeline = build_pipeline(BASE.interest, candidates, [])
    share, explained = explanation_faithfulness(pipeline, vectors, list(vectors), BASE.interest, 200, users=10)
    assert explained >= 50 and share >= 0.95, (share, explained)
