"""Arrow schemas of the catalogue and the items table, and id validation.

Ids are strings restricted to a safe alphabet. That is what lets the store
build LanceDB filters from them without ever pasting raw request text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pyarrow as pa

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)
# Category names as catalogues write them ("Children's", "Sci-Fi", "Film-Noir"):
# the quote is allowed and doubled inside SQL literals; nothing else that SQL reads.
CATEGORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 '&_.\-/+()]{0,63}$"
_CATEGORY_RE = re.compile(CATEGORY_PATTERN)

# What a catalogue row becomes after normalisation (rec/catalog/files.py).
CATALOG_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("description", pa.string()),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("year", pa.int32()),
    ]
)


# The Arrow type of each kind of declared attribute (catalog.filterable).
ATTRIBUTE_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}
ATTRIBUTE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def catalog_schema(attributes: Mapping[str, str] | None = None) -> pa.Schema:
    """CATALOG_SCHEMA plus the declared attributes' columns (name -> kind), in name order."""
    declared = [pa.field(name, ATTRIBUTE_TYPES[kind]) for name, kind in sorted((attributes or {}).items())]
    return pa.schema(list(CATALOG_SCHEMA) + declared)


def items_table_schema(dim: int, attributes: Mapping[str, str] | None = None) -> pa.Schema:
    """The LanceDB items table: catalogue fields (and declared attributes), text, vector and provenance."""
    return pa.schema(
        list(catalog_schema(attributes))
        + [
            pa.field("text", pa.string(), nullable=False),
            pa.field("popularity", pa.int64(), nullable=False),
            pa.field("encoder_version", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


FIXED_COLUMNS = frozenset(items_table_schema(1).names)


def table_attributes(schema: pa.Schema) -> dict[str, str]:
    """The declared attributes an items table holds: its columns beyond the fixed ones, by kind."""
    kinds = {str(t): k for k, t in ATTRIBUTE_TYPES.items()}
    return {f.name: kinds[str(f.type)] for f in schema if f.name not in FIXED_COLUMNS and str(f.type) in kinds}


def is_valid_id(value: str) -> bool:
    """True when `value` is a safe item or user id."""
    return bool(_ID_RE.match(value))


def is_valid_category(value: object) -> bool:
    """True for a category name that may go into a LanceDB filter (quotes escaped)."""
    return isinstance(value, str) and _CATEGORY_RE.fullmatch(value) is not None
