"""A catalogue of text-like vectors in clusters, and a small interest model over it with
random weights, for tests of ranking that need a model without training one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from base_config import BASE, changed
from rec.ranking.candidates import Candidates, InMemoryItems

DIM, CLUSTERS, PER_CLUSTER = 16, 6, 40


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    categories: tuple[str, ...] = ()


def catalogue(seed: int = 0) -> tuple[dict[str, np.ndarray], Candidates]:
    """Unit vectors "c{cluster}-{n}" around CLUSTERS random centres, and their candidates."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM))
    vectors = {}
    for c in range(CLUSTERS):
        for n in range(PER_CLUSTER):
            v = centres[c] + 0.8 * rng.normal(size=DIM)
            vectors[f"c{c}-{n}"] = (v / np.linalg.norm(v)).astype(np.float32)
    items = InMemoryItems(DIM)
    items.add([Item(i, f"Film {i}") for i in vectors], np.stack(list(vectors.values())))
    return vectors, Candidates(items, InMemoryItems(DIM))


def random_model(vectors: dict[str, np.ndarray]):
    """(ModelQueries, its scoring InMemoryItems) of an untrained model over `vectors`, its
    projections drawn with a fixed seed so scores spread."""
    import torch

    from rec.interest.model import InterestEvolutionModel
    from rec.interest.queries import ModelQueries

    ids = list(vectors)
    model = InterestEvolutionModel(changed(BASE.train.model, d=16, layers=1), np.stack(list(vectors.values())),
                                   np.ones(len(ids), dtype=bool))
    torch.manual_seed(0)
    for parameter in (model.proj.weight, model.adjust.weight):
        torch.nn.init.normal_(parameter, std=0.3)
    queries = ModelQueries(model.eval(), ids)
    scoring = InMemoryItems(queries.dim)
    scoring.add([Item(i, f"Film {i}") for i in ids], model.item_vectors())
    return queries, scoring
