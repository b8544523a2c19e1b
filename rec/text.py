"""Item text from catalogue fields, by a template of optional parts."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

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

