"""Tests for rec.storage.vector_index: the index plan by table size, and an indexed table
queried through ItemStore by that plan (a real LanceDB table in tmp_path)."""

from __future__ import annotations

import lancedb
import numpy as np

from plane_items import item_rows
from rec.storage.items_table import ItemStore, index_if_large
from rec.storage.vector_index import index_plan


def test_small_tables_get_no_index_and_large_ones_about_a_thousand_rows_a_partition():
    assert index_plan(49_999, min_rows=50_000) is None
    at_100k, at_1m = index_plan(100_000, 50_000), index_plan(1_000_000, 50_000)
    assert (at_100k.partitions, at_100k.nprobes, at_100k.refine_factor) == (316, 26, 10)
    assert (at_1m.partitions, at_1m.nprobes) == (1000, 83)
    assert at_1m.why.startswith("IVF_SQ over 1000000 rows: 1000 partitions")
    assert index_plan(100, 0).nprobes == index_plan(100, 0).partitions


def test_an_indexed_table_is_queried_by_its_plan_and_finds_the_exact_top_k(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 4))
    vectors = centres[rng.integers(40, size=4000)] + 0.2 * rng.normal(size=(4000, 4))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    uri = str(tmp_path / "lancedb")
    table = lancedb.connect(uri).create_table("items", data=item_rows({f"m{n}": list(v) for n, v in enumerate(vectors)}))
    assert index_if_large(table, min_rows=5000) is None and ItemStore(uri, "items").plan is None
    plan = index_if_large(table, min_rows=1000)
    store = ItemStore(uri, "items")
    assert store.plan == plan and plan.partitions == 63
    hits = []
    for query in vectors[rng.choice(4000, size=20, replace=False)]:
        exact = {f"m{i}" for i in np.argsort(-(vectors @ query))[:10]}
        hits.append(len(exact & {i.item_id for i in store.search(query, 10)}) / 10)
    assert np.mean(hits) >= 0.9, hits
