"""Tests for rec.storage.items_table on a real LanceDB table in tmp_path."""

from __future__ import annotations


import lancedb
import numpy as np
import pytest

import rec.storage.items_table
from rec.errors import NotReadyError
from rec.catalog.schemas import items_table_schema
from plane_items import DIM, IDS, VECTORS, X, item_rows
from rec.catalog.filters import NO_FILTER, year_range
from rec.storage.unchanged_vectors import embed_settings
from rec.storage.items_table import ItemStore, check_attributes, sql_category_filter, sql_string_list

@pytest.fixture
def db_uri(tmp_path) -> str:
    uri = str(tmp_path / "lancedb")
    lancedb.connect(uri).create_table("items", data=item_rows(VECTORS))
    return uri


@pytest.fixture
def store(db_uri) -> ItemStore:
    return ItemStore(db_uri, "items")


def test_open_metadata(store):
    assert store.dim == DIM
    assert store.count() == len(IDS)
    assert store.version == 1
    assert store.encoder_version() == "text-encoder/1"


def test_search_results_carry_popularity(store):
    assert {r.item_id: r.popularity for r in store.search(X, k=3)} == {"i0": 5, "i1": 50, "i2": 0}


def test_search_nearest_by_dot_product(store):
    results = store.search(X, k=3)
    assert [r.item_id for r in results] == ["i0", "i1", "i2"]
    for r in results:
        assert r.score == pytest.approx(float(np.dot(VECTORS[r.item_id], X)), abs=1e-5)
        assert r.title == f"Movie {r.item_id}"
        assert r.categories in (["Drama"], ["Comedy", "Romance"])
    assert results[0].score >= results[1].score >= results[2].score


def test_search_scores_match_all_dot_products(store):
    rng = np.random.default_rng(3)
    query = rng.normal(size=DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    results = store.search(query, k=len(IDS))
    expected = sorted(IDS, key=lambda i: -float(np.dot(VECTORS[i], query)))
    assert [r.item_id for r in results] == expected
    for r in results:
        assert r.score == pytest.approx(float(np.dot(VECTORS[r.item_id], query)), abs=1e-5)


def test_search_k_larger_than_table(store):
    assert len(store.search(X, k=50)) == len(IDS)


def test_search_exclude(store):
    results = store.search(X, k=3, exclude={"i0", "i1"})
    assert [r.item_id for r in results] == ["i2", "i3", "i4"]


def test_search_exclude_still_k_results(store):
    exclude = {"i0", "i2", "i4", "i6", "i8"}
    results = store.search(X, k=4, exclude=exclude)
    assert len(results) == 4
    assert not exclude & {r.item_id for r in results}
    assert [r.item_id for r in results] == ["i1", "i3", "i5", "i7"]


def test_search_exclude_beyond_prefilter_limit(store, monkeypatch):
    # Only the first id (sorted) goes into the LanceDB filter; the rest are
    # removed from an over-fetched result.
    monkeypatch.setattr(rec.storage.items_table, "MAX_PREFILTER_IDS", 1)
    exclude = {"i0", "i1", "i2"}
    results = store.search(X, k=3, exclude=exclude)
    assert [r.item_id for r in results] == ["i3", "i4", "i5"]


def test_search_excluding_everything(store):
    assert store.search(X, k=3, exclude=set(IDS)) == []


def test_search_rejects_unsafe_exclude(store):
    with pytest.raises(ValueError):
        store.search(X, k=3, exclude={"x' OR 1=1 --"})


def test_vectors_only_known_ids(store):
    found = store.vectors(["i3", "nope", "i0", "i3"])
    assert set(found) == {"i0", "i3"}
    for item_id, vector in found.items():
        assert vector.shape == (DIM,)
        assert vector.dtype == np.float32
        np.testing.assert_allclose(vector, VECTORS[item_id], atol=1e-6)
    assert store.vectors([]) == {}
    assert store.vectors(["nope"]) == {}


def test_vector_cache_is_bounded_and_serves_the_pinned_version(db_uri):
    pinned = ItemStore(db_uri, "items", version=1, vector_cache_size=2)
    first = pinned.vectors(["i0", "i1", "i2"])
    assert len(pinned._vector_cache) == 2
    rotated = {k: list(np.roll(v, 1)) for k, v in VECTORS.items()}
    lancedb.connect(db_uri).create_table("items", data=item_rows(rotated), mode="overwrite")
    again = pinned.vectors(["i0", "i1", "i2"])  # partly cached, partly re-read from version 1
    for item_id in first:
        np.testing.assert_array_equal(again[item_id], first[item_id])


def test_popular_orders_by_popularity(store):
    top = store.popular(4)
    assert [r.item_id for r in top] == ["i4", "i1", "i8", "i6"]
    assert [r.score for r in top] == [100.0, 50.0, 20.0, 9.0]
    assert top[0].title == "Movie i4"
    assert len(store.popular(100)) == len(IDS)


def test_pinned_version_keeps_olditem_rows(db_uri):
    new = {"n0": [0.0, 1.0, 0.0, 0.0], "n1": [1.0, 0.0, 0.0, 0.0]}
    table = lancedb.connect(db_uri).create_table("items", data=item_rows(new, "text-encoder/2"), mode="overwrite")
    assert table.version == 2

    old = ItemStore(db_uri, "items", version=1)
    assert old.version == 1
    assert old.count() == len(IDS)
    assert old.encoder_version() == "text-encoder/1"
    assert [r.item_id for r in old.search(X, 1)] == ["i0"]
    assert set(old.vectors(["i0", "n0"])) == {"i0"}

    latest = ItemStore(db_uri, "items")
    assert latest.version == 2
    assert latest.count() == 2
    assert latest.encoder_version() == "text-encoder/2"
    assert [r.item_id for r in latest.search(X, 1)] == ["n1"]


def test_sql_string_list():
    assert sql_string_list(["a", "b-1", "c:2"]) == "('a', 'b-1', 'c:2')"
    for bad in ["a' OR 1=1 --", "a'b", "", "x y", "../x"]:
        with pytest.raises(ValueError):
            sql_string_list(["ok", bad])


def test_missing_table_is_not_ready(tmp_path, db_uri):
    with pytest.raises(NotReadyError, match="other"):
        ItemStore(db_uri, "other")
    with pytest.raises(NotReadyError):
        ItemStore(str(tmp_path / "empty-db"), "items")


def test_empty_table(tmp_path):
    uri = str(tmp_path / "db")
    lancedb.connect(uri).create_table("items", schema=items_table_schema(DIM))
    store = ItemStore(uri, "items")
    assert store.count() == 0
    with pytest.raises(NotReadyError):
        store.encoder_version()
    assert store.popular(3) == []
    assert store.vectors(["i0"]) == {}


def test_check_vector_space_refuses_another_models_vectors(store):
    from rec.storage.items_table import check_vector_space

    check_vector_space(store, "text-encoder/1")
    with pytest.raises(NotReadyError, match="text-encoder/2"):
        check_vector_space(store, "text-encoder/2")


def test_search_within_categories(store):
    # even rows (i0, i2, ...) are Comedy + Romance, odd rows Drama
    found = [item.item_id for item in store.search(X, 3, categories={"Drama"})]
    assert found == ["i1", "i3", "i5"]
    assert all("Drama" in item.categories for item in store.search(X, 10, categories={"Drama"}))
    both = {item.item_id for item in store.search(X, 20, categories={"Drama", "Romance"})}
    assert both == set(IDS)
    assert [i.item_id for i in store.search(X, 2, exclude={"i1"}, categories={"Drama"})] == ["i3", "i5"]
    assert store.search(X, 5, categories={"Children's"}) == []  # a quote is escaped, not SQL
    assert store.search(X, 5, categories={"Drama') OR TRUE --"}) == []  # one odd name, not SQL


def test_search_within_years_in_the_lancedb_query(store):
    # i0..i9 are from 1990..1999, in id order
    found = [item.item_id for item in store.search(X, 10, filters=year_range(1992, 1994))]
    assert found == ["i2", "i3", "i4"] and [item.year for item in store.search(X, 1)] == [1990]
    assert [i.item_id for i in store.search(X, 2, filters=year_range(1995))] == ["i5", "i6"]
    assert [i.item_id for i in store.search(X, 9, filters=year_range(None, 1991), categories={"Drama"})] == ["i1"]
    assert store.search(X, 5, filters=year_range(2000, None)) == []
    assert year_range(1992, 1994).sql() == "(year >= 1992 AND year <= 1994)" and not NO_FILTER and not year_range()


def test_popular_items_carry_their_year(store):
    assert [(i.item_id, i.year) for i in store.popular(2)] == [("i4", 1994), ("i1", 1991)]


@pytest.mark.parametrize("bad", ["a\\b", "Drama\" OR 1=1", "x; DROP TABLE items", "../etc", "", "é"])
def test_category_filter_rejects_unsafe_names(store, bad):
    with pytest.raises(ValueError, match="not a valid category"):
        store.search(X, 3, categories={bad})


def test_sql_category_filter_doubles_quotes():
    assert sql_category_filter(["Children's", "Drama"]) == "array_has_any(categories, ['Children''s', 'Drama'])"


def test_titles_and_categories_by_id_leave_out_unknown_ids(store):
    assert store.titles(["i1", "nope", "i0"]) == {"i1": "Movie i1", "i0": "Movie i0"}
    assert store.categories(["i1"]) == {"i1": ["Drama"]}
    assert store.titles(["i1"]) == {"i1": "Movie i1"}  # from the cache now, as categories


def test_declared_attributes_are_read_with_every_item_and_checked_before_serving(tmp_path):
    uri = str(tmp_path / "lancedb")
    runtimes = [80 + 10 * n for n in range(len(IDS))]
    lancedb.connect(uri).create_table("items", data=item_rows(VECTORS, attributes={"runtime": ("int", runtimes)}))
    store = ItemStore(uri, "items")
    popular = store.popular(2)
    assert [(i.item_id, i.attributes) for i in popular] == [("i4", (("runtime", 120),)), ("i1", (("runtime", 90),))]
    assert store.catalog_rows(["i2"])["i2"]["attributes"] == {"runtime": 100}
    check_attributes(store, {"runtime": "int"})
    with pytest.raises(NotReadyError, match="language"):
        check_attributes(store, {"runtime": "int", "language": "string"})
    with pytest.raises(NotReadyError, match="runtime"):
        check_attributes(store, {"runtime": "string"})  # declared as another kind


def test_fragments_written_apart_become_one_new_version_even_with_other_columns(db_uri):
    """The embed job's write: workers write fragments, the driver commits them once. Here the
    new version declares an attribute the old one lacks, which shifts Lance's field ids."""
    before = ItemStore(db_uri, "items")
    rows = item_rows(VECTORS, encoder="text-encoder/2",
                     attributes={"runtime": ("int", list(range(100, 100 + len(IDS))))})
    rows = rows.replace_schema_metadata(embed_settings(max_length=64, dtype="float32"))
    uri = rec.storage.items_table.lance_dataset_uri(db_uri, "items")
    rec.storage.items_table.ensure_table(db_uri, "items", rows.schema)
    half = rows.num_rows // 2
    fragments = [*rec.storage.items_table.write_fragments(rows.slice(0, half), uri, rows.schema),
                 *rec.storage.items_table.write_fragments(rows.slice(half), uri, rows.schema)]
    assert before.version == ItemStore(db_uri, "items").version  # nothing is visible before the commit
    table = rec.storage.items_table.commit_fragments(db_uri, "items", fragments, rows.schema)
    after = ItemStore(db_uri, "items")
    assert after.version == table.version == before.version + 1 and table.count_rows() == len(IDS)
    assert after.encoder_version() == "text-encoder/2" and after.attributes == {"runtime": "int"}
    assert after.table.schema.metadata == rows.schema.metadata  # how its vectors were made (unchanged_vectors)
    vectors = after.vectors(IDS)
    for item_id in IDS:
        np.testing.assert_allclose(vectors[item_id], VECTORS[item_id], atol=1e-6)
    assert ItemStore(db_uri, "items", before.version).encoder_version() == "text-encoder/1"  # still readable
