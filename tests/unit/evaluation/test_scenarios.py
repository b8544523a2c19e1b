"""rec/evaluation/scenarios.py on a catalogue of two categories whose text vectors are apart."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from base_config import BASE
from rec.evaluation.harness import build_eval_data, service_pipeline, train_counts
from rec.evaluation.scenarios import most_popular_in, run_scenarios, scenario_table

DIM = 8


def _data():
    """40 items: a0..a19 ("A", near axis 0) and b0..b19 ("B", near axis 1); a0 and b0 are in both.
    Users rate them so that a lower index is more popular."""
    rng = np.random.default_rng(0)
    ids = [f"{c}{n}" for c in "ab" for n in range(20)]
    vectors = np.zeros((40, DIM), dtype=np.float32)
    vectors[:20, 0], vectors[20:, 1] = 1.0, 1.0
    vectors += 0.1 * rng.random((40, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    categories = [["A", "B"] if i in ("a0", "b0") else [i[0].upper()] for i in ids]
    rows = [{"user_id": f"u{u}", "item_id": item, "timestamp": step, "line": 100 * u + step}
            for u in range(20) for step, item in enumerate([*ids[: 20 - u], *ids[20: 40 - u]])]
    return build_eval_data(pa.Table.from_pylist(rows), ids, vectors, categories)


def test_the_liked_items_are_the_most_popular_of_one_category_only():
    data = _data()
    counts = train_counts(data, data.split)
    assert most_popular_in(data, counts, "A", "B", 3) == ["a1", "a2", "a3"]  # a0 is in B too
    assert most_popular_in(data, counts, "B", "A", 2) == ["b1", "b2"]


def test_the_per_event_rule_follows_a_to_b():
    data = _data()
    pipeline = service_pipeline(data, data.split, BASE.interest)
    rows = run_scenarios(pipeline, data, train_counts(data, data.split), BASE.interest, 200,
                         pairs=[("A", "B")], steps=(1, 3))
    by_step = {(r.likes_a, r.likes_b): r for r in rows}
    assert list(by_step) == [(1, 0), (3, 0), (3, 1), (3, 3)]
    assert by_step[(3, 0)].share_a > 0.5 > by_step[(3, 0)].share_b  # after A: mostly A
    assert by_step[(3, 3)].share_b > by_step[(3, 0)].share_b  # B's likes move it towards B
    table = scenario_table({"rule": rows})
    assert table.splitlines()[2].startswith("| 1, then 0 | ")


def test_two_interests_at_once_are_measured_with_and_without_the_merge():
    from base_config import changed
    from rec.evaluation.scenarios import mixed_table, run_mixed

    data = _data()
    counts = train_counts(data, data.split)
    rows = {}
    for merge in (1, 2):
        interest = changed(BASE.interest, multi_interests=merge, blend_focus=0.0)
        rows[merge] = run_mixed(service_pipeline(data, data.split, interest), data, counts, interest, 200,
                                pairs=[("A", "B")], likes=3)
    assert rows[2].both_at_least_3 == 1.0 and min(rows[2].share_a, rows[2].share_b) >= 0.3
    assert rows[1].both_at_least_3 == 0.0 and max(rows[1].share_a, rows[1].share_b) > 0.7  # without it one takes all
    assert mixed_table({"merged": rows[2]}).splitlines()[2].startswith("| merged | ")
