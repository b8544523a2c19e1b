"""Tests for rec.catalog.files: parquet/CSV/JSONL catalogues normalised to CATALOG_SCHEMA."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rec.catalog.files import catalog_format, normalize_catalog, read_catalog
from rec.errors import DataError
from rec.catalog.schemas import CATALOG_SCHEMA, catalog_schema

DATA = Path(__file__).resolve().parents[2] / "data"
CSV = DATA / "tiny_catalog.csv"
JSONL = DATA / "tiny_catalog.jsonl"
IDS = ["1", "2", "3", "4", "5", "7", "8", "11", "12", "50", "56", "267"]


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {row["item_id"]: row for row in table.to_pylist()}


def _check_tiny(table: pa.Table) -> None:
    assert table.schema == CATALOG_SCHEMA
    assert table["item_id"].to_pylist() == IDS  # int ids became strings, order kept
    rows = _by_id(table)
    assert rows["1"]["title"] == "Toy Story"
    assert rows["1"]["year"] == 1995
    assert rows["1"]["categories"] == ["Animation", "Children's", "Comedy"]
    assert rows["1"]["description"].startswith("A cowboy doll")
    assert rows["12"]["title"] == "Usual Suspects, The"
    assert rows["50"]["categories"] == ["Action", "Adventure", "Romance", "Sci-Fi", "War"]
    assert rows["50"]["year"] == 1977
    assert rows["267"]["year"] is None
    assert not rows["267"]["categories"]  # None (JSON null) or [] (empty CSV cell)


def test_read_csv_with_pipe_categories():
    _check_tiny(read_catalog(CSV))


def test_read_jsonl_with_list_categories():
    _check_tiny(read_catalog(JSONL))


def test_read_parquet(tmp_path):
    raw = read_catalog(JSONL).to_pydict()
    raw["item_id"] = [int(i) for i in raw["item_id"]]  # ints in the file, strings out
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table(raw), path)
    _check_tiny(read_catalog(path))


def test_csv_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("item_id,title\n007,GoldenEye\n0042,Hitchhiker's Guide\n")
    assert read_catalog(path)["item_id"].to_pylist() == ["007", "0042"]


def test_categories_string_split_on_any_separator():
    table = pa.table({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"],
                      "categories": ["Drama | Crime", "War;Western", None]})
    assert normalize_catalog(table)["categories"].to_pylist() == [["Drama", "Crime"], ["War", "Western"], None]


def test_optional_columns_absent_become_null():
    table = normalize_catalog(pa.table({"item_id": [1, 2], "title": ["A", "B"]}))
    assert table.schema == CATALOG_SCHEMA
    assert table["item_id"].to_pylist() == ["1", "2"]
    assert table["year"].to_pylist() == [None, None]
    assert table["categories"].to_pylist() == [None, None]
    assert table["description"].to_pylist() == [None, None]


def test_extra_columns_are_dropped():
    table = normalize_catalog(pa.table({"item_id": ["a"], "title": ["A"], "price": [3.5]}))
    assert table.column_names == CATALOG_SCHEMA.names


@pytest.mark.parametrize("missing", ["title", "item_id"])
def test_missing_required_column_names_it(tmp_path, missing):
    columns = {"item_id": ["1"], "title": ["Toy Story"]}
    del columns[missing]
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table(columns | {"year": [1995]}), path)
    with pytest.raises(DataError, match=repr(missing)):
        read_catalog(path)


@pytest.mark.parametrize("bad_id", ["a'b", "../x", "x y", "", "-lead"])
def test_unsafe_id_is_rejected(bad_id):
    table = pa.table({"item_id": ["ok-1", bad_id], "title": ["A", "B"]})
    with pytest.raises(DataError):
        normalize_catalog(table)


def test_unsafe_id_in_csv_file(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("item_id,title\n1,Toy Story\n\"a'b\",Bad\n")
    with pytest.raises(DataError, match="a'b"):
        read_catalog(path)


def test_null_id_is_rejected():
    table = pa.table({"item_id": pa.array([1, None], pa.int64()), "title": ["A", "B"]})
    with pytest.raises(DataError, match="empty item_id"):
        normalize_catalog(table)


def test_unreadable_year_is_a_data_error():
    table = pa.table({"item_id": ["1"], "title": ["A"], "year": ["nineteen"]})
    with pytest.raises(DataError, match="year"):
        normalize_catalog(table)


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "items.xlsx"
    path.write_text("not really")
    with pytest.raises(DataError, match=r"\.xlsx"):
        read_catalog(path)
    with pytest.raises(DataError, match="unsupported suffix"):
        catalog_format("items.tsv")


def test_format_by_suffix_case_insensitive():
    assert catalog_format("a.PARQUET") == "parquet"
    assert catalog_format("a.csv") == "csv"
    assert catalog_format("a.jsonl") == catalog_format("a.json") == "json"


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_catalog(tmp_path / "nope.csv")


def test_catalog_item_ids_reads_only_ids_as_written(tmp_path):
    from rec.catalog.files import catalog_item_ids
    from rec.encoding.batch import duplicate_ids

    path = tmp_path / "dupes.csv"
    path.write_text("item_id,title\n007,Bond\n7,Seven\n007,Bond again\n")
    ids = catalog_item_ids(path)
    assert ids == ["007", "7", "007"]
    assert duplicate_ids(ids) == ["007"]


def test_declared_filterable_columns_are_kept_cast_to_their_kind():
    raw = pa.table({"item_id": [1, 2], "title": ["A", "B"], "runtime": ["90", None], "language": ["en", "fr"],
                    "rating": [7, 8], "unused": ["x", "y"]})
    declared = {"runtime": "int", "language": "string", "rating": "float"}
    table = normalize_catalog(raw, declared)
    assert table.schema == catalog_schema(declared) and "unused" not in table.column_names
    assert _by_id(table)["1"] == {"item_id": "1", "title": "A", "description": None, "categories": None,
                                       "year": None, "language": "en", "rating": 7.0, "runtime": 90}
    assert _by_id(table)["2"]["runtime"] is None


def test_a_declared_column_the_catalogue_lacks_or_cannot_cast_is_an_error():
    raw = pa.table({"item_id": ["1"], "title": ["A"], "runtime": ["long"]})
    with pytest.raises(DataError, match="'language'.*catalog.filterable"):
        normalize_catalog(raw, {"language": "string"})
    with pytest.raises(DataError, match="'runtime'"):
        normalize_catalog(raw, {"runtime": "int"})
