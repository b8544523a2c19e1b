"""Tests for rec.ranking.candidates and rec.storage.new_item_vectors: new items scored beside a pinned table."""

from __future__ import annotations

import functools

import lancedb
import numpy as np
import pyarrow as pa

from base_config import BASE
from rec.ranking.candidates import InMemoryItems, merge_top_k, pinned_source
from rec.storage.new_item_vectors import NewItemVectorTable, ItemVectorLookup, new_item_table_name
from rec.storage.new_item_log import NewItem, NewItemLog, new_item_texts
from rec.catalog.schemas import items_table_schema
from rec.catalog.filters import parse_filters, year_range
from rec.storage.items_table import ItemStore, ScoredItem


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _new_items() -> InMemoryItems:
    fresh = InMemoryItems(3)
    items = [
        NewItem("a", "A", categories=("Drama",)), NewItem("b", "B", categories=("Comedy",)),
        NewItem("c", "C", categories=("Comedy", "Drama")),
    ]
    fresh.add(items, np.stack([_unit(1, 0, 0), _unit(0, 1, 0), _unit(1, 1, 0)]))
    return fresh


def test_search_ranks_by_dot_product_with_exclusion_and_categories():
    fresh = _new_items()
    query = _unit(1, 0.2, 0)
    assert [i.item_id for i in fresh.search(query, 3)] == ["a", "c", "b"]
    assert [i.item_id for i in fresh.search(query, 3, exclude={"a"})] == ["c", "b"]
    assert [i.item_id for i in fresh.search(query, 3, categories={"Comedy"})] == ["c", "b"]
    assert fresh.search(query, 1)[0].score == np.float32(query @ _unit(1, 0, 0))
    assert InMemoryItems(3).search(query, 5) == []


def test_add_ignores_ids_already_held():
    fresh = _new_items()
    fresh.add([NewItem("a", "A again"), NewItem("d", "D")], np.stack([_unit(0, 0, 1), _unit(0, 0, 1)]))
    assert len(fresh) == 4 and "d" in fresh
    np.testing.assert_allclose(fresh.vectors(["a"])["a"], _unit(1, 0, 0))  # the first vector stays


def test_merge_top_k_is_the_top_of_the_union_by_score():
    pinned = [ScoredItem("p1", "P1", 0.9, []), ScoredItem("p2", "P2", 0.5, [])]
    fresh = [ScoredItem("f1", "F1", 0.7, []), ScoredItem("p2", "P2", 0.5, []), ScoredItem("f2", "F2", 0.1, [])]
    assert [i.item_id for i in merge_top_k(pinned, fresh, 3)] == ["p1", "f1", "p2"]
    assert [i.item_id for i in merge_top_k(pinned, [], 5)] == ["p1", "p2"]


def test_new_item_table_keys_vectors_by_id_and_text(tmp_path):
    table = NewItemVectorTable(str(tmp_path / "db"), "items", "text-encoder/1")
    assert table.name == new_item_table_name("items", "text-encoder/1") and "/" not in table.name
    assert table.vectors({"a": "text a"}) == {}  # no table yet
    table.add(["a", "b"], ["text a", "text b"], np.stack([_unit(1, 0, 0), _unit(0, 1, 0)]))
    table.add(["a"], ["text a"], np.stack([_unit(0, 0, 1)]))  # same key: the first row stays
    other_replica = NewItemVectorTable(str(tmp_path / "db"), "items", "text-encoder/1")
    found = other_replica.vectors({"a": "text a", "b": "another text", "z": "text z"})
    assert list(found) == ["a"]  # b's vector was made from another text
    np.testing.assert_allclose(found["a"], _unit(1, 0, 0))
    assert NewItemVectorTable(str(tmp_path / "db"), "items", "text-encoder/2").vectors({"a": "text a"}) == {}


def test_shard_lookup_finds_catalogue_then_new_items(tmp_path):
    db_uri, config = str(tmp_path / "db"), BASE.catalog
    rows = pa.table({
        "item_id": ["1"], "title": ["One"], "description": [None], "categories": [["Drama"]], "year": [2000],
        "text": ["One (2000)."], "popularity": [1], "encoder_version": ["enc/1"],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(_unit(1, 0, 0), pa.float32()), 3),
    }, schema=items_table_schema(3))
    lancedb.connect(db_uri).create_table("items", data=rows)
    item_log = NewItemLog(tmp_path / "items")
    fresh_item = NewItem("new-1", "Brand New", 2025)
    NewItemVectorTable(db_uri, "items", "enc/1").add(
        ["new-1"], new_item_texts([fresh_item], config), np.stack([_unit(0, 1, 0)]),
    )
    lookup = ItemVectorLookup(ItemStore(db_uri, "items"), NewItemVectorTable(db_uri, "items", "enc/1"),
                              NewItemLog(tmp_path / "items"), config)
    assert set(lookup(["1", "new-1", "gone"])) == {"1"}  # not logged yet: unknown
    item_log.append([fresh_item])
    found = lookup(["1", "new-1", "gone"])
    assert set(found) == {"1", "new-1"}
    np.testing.assert_allclose(found["new-1"], _unit(0, 1, 0))


def test_titles_of_new_items():
    assert _new_items().titles(["c", "zz", "a"]) == {"c": "C", "a": "A"}


def test_a_pinned_table_in_memory_ranks_as_its_lancedb_search(tmp_path):
    """in_memory(store) is what serve searches for small tables: the same items, scores and
    filters as the LanceDB query over the same pinned version."""
    from plane_items import item_rows

    rng = np.random.default_rng(0)
    vectors = {f"m{n}": list(_unit(*rng.normal(size=4))) for n in range(60)}  # years 1990..2049
    declared = {"runtime": ("int", [None if n % 7 == 0 else 80 + n for n in range(60)]),
                "rating": ("float", [n / 10 for n in range(60)]),
                "language": ("string", [None if n % 5 == 0 else ["en", "fr", "O'Neil"][n % 3] for n in range(60)])}
    uri = str(tmp_path / "lancedb")
    lancedb.connect(uri).create_table("items", data=item_rows(vectors, attributes=declared))
    store = ItemStore(uri, "items")
    assert store.attributes == {"language": "string", "rating": "float", "runtime": "int"}
    parse = functools.partial(parse_filters, attributes={"year": "int", **store.attributes})
    memory = pinned_source(store, in_memory_max_items=60)
    assert isinstance(memory, InMemoryItems) and pinned_source(store, in_memory_max_items=59) is store
    for trial in range(30):
        query = _unit(*rng.normal(size=4))
        exclude = {f"m{n}" for n in rng.choice(60, size=5, replace=False)}
        filters = [{}, {"categories": {"Drama"}}, {"filters": year_range(2000, 2030)},
                   {"categories": {"Comedy"}, "filters": year_range(2010)},
                   {"filters": parse({"runtime_min": "100", "language": ["fr", "O'Neil"]})},
                   {"filters": parse({"rating_max": 3.05, "runtime_max": 125, "year_min": 1995})}][trial % 6]
        by_lancedb = store.search(query, 10, exclude=exclude, **filters)
        by_memory = memory.search(query, 10, exclude=exclude, **filters)
        assert [i.item_id for i in by_memory] == [i.item_id for i in by_lancedb]
        assert np.allclose([i.score for i in by_memory], [i.score for i in by_lancedb], atol=1e-5)
        assert [(i.title, i.categories, i.year, i.popularity, i.attributes) for i in by_memory] == [
            (i.title, i.categories, i.year, i.popularity, i.attributes) for i in by_lancedb]
        if "filters" in filters:  # and the filter holds for every item found, by its own values
            assert all(filters["filters"].holds(i.attribute_values()) for i in by_memory)
    assert len(store.search(_unit(1, 0, 0, 0), 60, filters=parse({"language": "O'Neil"}))) == 16  # a quote is escaped
    ids = ["m3", "m40", "nope"]
    assert memory.categories(ids) == store.categories(ids) and memory.titles(ids) == store.titles(ids)
    assert all(np.allclose(memory.vectors(ids)[i], store.vectors(ids)[i]) for i in ("m3", "m40"))
