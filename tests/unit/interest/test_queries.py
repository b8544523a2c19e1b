"""Tests for rec.interest.queries: the interest model as the service asks it for query vectors."""

from __future__ import annotations

import numpy as np
import torch

from base_config import BASE, changed
from rec.interest.model import InterestEvolutionModel
from rec.interest.queries import ModelQueries


def _model() -> InterestEvolutionModel:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(5, 16)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    model = InterestEvolutionModel(changed(BASE.train.model, d=8, layers=1), text, np.array([1, 1, 1, 1, 0], dtype=bool))
    torch.manual_seed(0)
    for parameter in (model.proj.weight, model.text_bias.weight, model.adjust.weight, model.bias_adjust.weight):
        torch.nn.init.normal_(parameter)  # trained-looking weights, adjustments included
    return model.eval()


def test_projection_of_a_new_item_is_the_models_cold_item_vector():
    """A new item is scored as the model scores a cold catalogue item: text projection + bias."""
    model = _model()
    queries = ModelQueries(model, ["a", "b", "c", "d", "e"])
    text = model.text.numpy()  # (N, E) the item text vectors it was built with
    projected = queries.project_text(text[4:])  # item 4 is cold: its scoring vector is its projection alone
    np.testing.assert_allclose(projected, model.item_vectors()[4:], atol=1e-5)
    assert not np.allclose(queries.project_text(text[:1]), model.item_vectors()[:1])  # warm items differ


def test_query_vector_reads_the_known_items_of_the_history():
    model = _model()
    queries = ModelQueries(model, ["a", "b", "c", "d", "e"])
    assert queries.query_vector(["unknown"], [0.0]) is None
    with_unknown = queries.query_vector(["a", "new-item", "c"], [0.0, 5.0, 10.0])
    expected = model.user_vectors([np.array([0, 2])], [np.array([0.0, 10.0])])[0]
    np.testing.assert_allclose(with_unknown, expected, atol=1e-6)
    assert queries.dim == model.item_vectors().shape[1] and queries.knows("e") and not queries.knows("z")


def test_prefetched_queries_are_those_computed_alone_and_each_is_taken_once():
    queries = ModelQueries(_model(), ["a", "b", "c", "d", "e"])
    histories = [(("a", "b"), (0.0, 1.0)), (("c", "d", "e"), (0.0, 2.0, 9.0)), (("unknown",), (0.0,))]
    alone = [queries.query_vector(*history) for history in histories]
    queries.prefetch(histories)
    calls = []
    batched = queries.query_vectors
    queries.query_vectors = lambda h: (calls.append(len(h)), batched(h))[1]
    prefetched = [queries.query_vector(*history) for history in histories]
    assert calls == []  # every one was ready
    np.testing.assert_allclose(prefetched[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(prefetched[1], alone[1], atol=1e-6)
    assert prefetched[2] is None and alone[2] is None
    queries.query_vector(*histories[0])
    assert calls == [1]  # taken once: the next call computes it again
