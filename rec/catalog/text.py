"""Item text from catalogue fields, by a template of optional parts."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from rec.config import CatalogConfig

_FORMATTER = string.Formatter()


def _fields_of(part: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(part) if name]


def _render_value(value: Any, list_separator: str) -> str:
    if value is None:
        return ""
    if hasattr(value, "tolist"):  # numpy array or scalar -> list or Python scalar
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return list_separator.join(str(v) for v in value if v not in (None, ""))
    return str(value).strip()


def item_text(item: Mapping[str, Any], template: Sequence[str], list_separator: str = ", ") -> str:
    """Render one item's text.

    Each template part is kept only when every field it names is present and
    non-empty: with parts ["{title}", " ({year})"] an item without a year
    renders as just its title.
    """
    out = []
    for part in template:
        values = {name: _render_value(item.get(name), list_separator) for name in _fields_of(part)}
        if all(values.values()):
            out.append(part.format(**values))
    return "".join(out).strip()


def catalog_texts(catalog: pa.Table, config: CatalogConfig) -> list[str]:
    """The encoder input of each normalised catalogue row (rec.catalog.normalize_catalog).

    The one way item text is made: the nightly embed job and POST /items both call it.
    """
    return [item_text(row, config.text_template, config.list_separator) for row in catalog.to_pylist()]
