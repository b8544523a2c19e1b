"""Reading a catalogue file and normalising it to the item schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.json as pajson
import pyarrow.parquet as pq

from rec.errors import DataError
from rec.catalog.schemas import ATTRIBUTE_TYPES, catalog_schema, is_valid_id

CATALOG_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
_CATEGORY_SPLIT = re.compile(r"\s*[|;,]\s*")


def catalog_format(path: str | Path) -> str:
    """'parquet', 'csv' or 'json' from the file suffix, or a DataError."""
    suffix = Path(str(path)).suffix.lower()
    if suffix not in CATALOG_FORMATS:
        raise DataError(
            f"catalogue {path}: unsupported suffix {suffix!r}; use one of {sorted(CATALOG_FORMATS)}"
        )
    return CATALOG_FORMATS[suffix]


def catalog_item_ids(path: str | Path) -> list[str]:
    """Only the item_id column of a catalogue file, as strings (a cheap pre-check)."""
    fmt = catalog_format(path)
    if fmt == "csv":  # keep "007" as it is written
        file_format = pads.CsvFileFormat(convert_options=pacsv.ConvertOptions(column_types={"item_id": pa.string()}))
    else:
        file_format = fmt
    ids = pads.dataset(str(path), format=file_format).to_table(columns=["item_id"])["item_id"]
    return pc.cast(ids, pa.string()).to_pylist()


def read_catalog(path: str | Path, filterable: Mapping[str, str] | None = None) -> pa.Table:
    """Read a parquet, CSV or JSON-lines catalogue and normalise it (keeping the `filterable` columns)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"catalogue file not found: {path}")
    fmt = catalog_format(path)
    if fmt == "parquet":
        table = pq.read_table(path)
    elif fmt == "csv":
        # ids stay text: inferring int64 would turn "007" into "7"
        convert = pacsv.ConvertOptions(column_types={"item_id": pa.string()})
        table = pacsv.read_csv(path, convert_options=convert)
    else:
        table = pajson.read_json(path)
    return normalize_catalog(table, filterable)


def normalize_catalog(table: pa.Table, filterable: Mapping[str, str] | None = None) -> pa.Table:
    """Cast a raw catalogue table to CATALOG_SCHEMA plus the `filterable` columns
    (catalog.filterable: name -> kind); other columns are dropped.

    item_id and title are required, and so is every filterable column; ids become
    strings and must be safe ids; categories may be a list column or one string
    split on | ; or ,.
    """
    for required in ("item_id", "title"):
        if required not in table.column_names:
            raise DataError(f"catalogue has no {required!r} column (columns: {table.column_names})")
    item_ids = pc.cast(table["item_id"], pa.string())
    if item_ids.null_count:
        raise DataError("catalogue has rows with an empty item_id")
    bad = [i for i in item_ids.to_pylist() if not is_valid_id(i)]
    if bad:
        raise DataError(f"catalogue item_id values are not safe ids (letters, digits, _.:-): {bad[:5]}")
    columns = {
        "item_id": item_ids,
        "title": pc.cast(table["title"], pa.string()),
        "description": _optional(table, "description", pa.string()),
        "categories": _categories(table),
        "year": _optional(table, "year", pa.int32()),
    }
    for name, kind in sorted((filterable or {}).items()):
        if name not in table.column_names:
            raise DataError(f"catalogue has no {name!r} column, which catalog.filterable declares "
                            f"(columns: {table.column_names})")
        columns[name] = _optional(table, name, ATTRIBUTE_TYPES[kind])
    return pa.table(columns, schema=catalog_schema(filterable))


def _optional(table: pa.Table, name: str, type_: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, type_)
    try:
        return pc.cast(table[name], type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"catalogue column {name!r} cannot be read as {type_}: {exc}") from None


def _categories(table: pa.Table) -> pa.Array:
    if "categories" not in table.column_names:
        return pa.nulls(table.num_rows, pa.list_(pa.string()))
    column = table["categories"]
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return pc.cast(column, pa.list_(pa.string()))
    values = [
        None if v is None else [c for c in _CATEGORY_SPLIT.split(str(v).strip()) if c]
        for v in column.to_pylist()
    ]
    return pa.array(values, pa.list_(pa.string()))
