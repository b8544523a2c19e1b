"""rec/evaluation/new_users.py: held-out users never reach training, and are ranked from prefixes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from base_config import BASE, changed
from rec.evaluation.harness import build_eval_data
from rec.evaluation.new_users import methods, new_user_split, new_user_table, prefix_cases, rank_prefixes, summarise

DIM = 8


def _data():
    """30 users walking 12 items in order from a random start, so the next item is predictable."""
    rng = np.random.default_rng(0)
    ids = [f"i{j:02d}" for j in range(12)]
    vectors = rng.normal(size=(12, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for u in range(30):
        start = int(rng.integers(0, 12))
        for step in range(7):
            rows.append({"user_id": f"u{u:02d}", "item_id": ids[(start + step) % 12], "timestamp": 10 * step,
                         "line": len(rows)})
    return build_eval_data(pa.Table.from_pylist(rows), ids, vectors, [["A"]] * 12)


def test_no_event_of_a_held_out_user_reaches_training():
    data = _data()
    split = new_user_split(data.split, fraction=0.2, seed=1)
    assert len(split.held_out) == 6
    trained = {*split.train.train.user_id, *split.train.valid.user_id, *split.train.test.user_id}
    assert trained.isdisjoint(split.held_out) and len(trained) == 24
    items, times = split.held_out[next(iter(split.held_out))]
    assert len(items) == 7 and list(times) == sorted(times)
    assert new_user_split(data.split, 0.2, seed=2).held_out.keys() != split.held_out.keys()


def test_a_prefix_is_the_first_k_events_and_its_target_the_next():
    data = _data()
    split = new_user_split(data.split, fraction=0.2, seed=1)
    table, ids, targets = prefix_cases(split, 3, data.item_index)
    user = ids[0].split("|")[0]
    items, _ = split.held_out[user]
    rows, cols, _, _ = table.gather(np.asarray(ids[:1]))
    assert list(data.item_index.ids[cols]) == list(items[:3]) and data.item_index.ids[targets[0]] == items[3]
    assert prefix_cases(split, 7, data.item_index)[1] == []  # nobody has an 8th event


def test_every_method_ranks_and_item_knn_learns_the_walk():
    data = _data()
    split = new_user_split(data.split, fraction=0.2, seed=1)
    model = changed(BASE.train.model, d=8, layers=1, max_epochs=2, batch_size=16, threads=1, max_len=8)
    scores = methods(data, split, BASE.interest, model, recency_tau=5)
    results = {name: {k: summarise(rank_prefixes(score, split, data.item_index, k)) for k in (1, 3)}
               for name, score in scores.items()}
    assert results["item-kNN"][1]["HR@10"] == 1.0  # the next item always follows the last one
    assert all(0.0 <= r[k]["NDCG@10"] <= 1.0 for r in results.values() for k in (1, 3))
    assert results["popularity"][3]["cases"] == 6
    table = new_user_table(results)
    assert table.splitlines()[2].startswith("| 1 | 6 | ") and table.splitlines()[0].endswith("served / best other |")
