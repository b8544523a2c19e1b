"""Filters on item attributes: `year` and the scalar columns a catalogue declares filterable
(`catalog.filterable`), as one condition that every item source applies alike: inside the
LanceDB query (sql), over in-memory columns (mask) and on one item (holds).

A numeric attribute takes a range (`{name}_min`, `{name}_max`, both included); a string
attribute takes the values it may have (any of them). An item without the attribute is
outside every condition on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rec.errors import InvalidRequestError

NUMERIC = ("int", "float")
MAX_VALUES = 20  # values of one string filter
# The value of a string filter goes into SQL between quotes (doubled inside), so it is
# held to printable text without control characters.
VALUE_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"
_VALUE_RE = re.compile(VALUE_PATTERN)


def is_valid_value(value: object) -> bool:
    return isinstance(value, str) and _VALUE_RE.fullmatch(value) is not None and value.strip() == value


@dataclass(frozen=True)
class Range:
    """`low <= attribute <= high`; None = open on that side."""

    attribute: str
    low: float | None = None
    high: float | None = None

    def sql(self) -> str:
        # the bounds are numbers (repr of a finite float or an int): nothing else enters the SQL
        bounds = [f"{self.attribute} >= {_number(self.low)}" if self.low is not None else "",
                  f"{self.attribute} <= {_number(self.high)}" if self.high is not None else ""]
        return " AND ".join(b for b in bounds if b)

    def mask(self, column: np.ndarray) -> np.ndarray:
        inside = ~np.isnan(column)  # NaN = no value: outside
        if self.low is not None:
            inside &= column >= self.low
        if self.high is not None:
            inside &= column <= self.high
        return inside

    def holds(self, value: Any) -> bool:
        return (value is not None and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))


@dataclass(frozen=True)
class OneOf:
    """The attribute is one of `values`."""

    attribute: str
    values: frozenset[str]

    def sql(self) -> str:
        quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(self.values))
        return f"{self.attribute} IN ({quoted})"

    def mask(self, column: np.ndarray) -> np.ndarray:
        return np.isin(column, sorted(self.values))  # "" = no value, never a valid value

    def holds(self, value: Any) -> bool:
        return value in self.values


@dataclass(frozen=True)
class AttributeFilter:
    """Every condition holds (AND); no condition = every item."""

    conditions: tuple[Range | OneOf, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def sql(self) -> str:
        """The LanceDB (DataFusion) condition."""
        return " AND ".join(f"({c.sql()})" for c in self.conditions)

    def mask(self, columns: Mapping[str, np.ndarray], size: int) -> np.ndarray:
        """holds() over in-memory columns (numeric: float, NaN = none; string: str, "" = none)."""
        inside = np.ones(size, dtype=bool)
        for condition in self.conditions:
            inside &= condition.mask(columns[condition.attribute][:size])
        return inside

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether an item with these attribute values passes."""
        return all(c.holds(values.get(c.attribute)) for c in self.conditions)


NO_FILTER = AttributeFilter()


def attribute_values(item: Any) -> dict[str, Any]:
    """What holds() reads of an item: its `year` and its declared `attributes` ((name, value) pairs)."""
    return {"year": getattr(item, "year", None), **dict(getattr(item, "attributes", ()))}


def year_range(low: int | None = None, high: int | None = None) -> AttributeFilter:
    """Items from year `low` to `high`."""
    return AttributeFilter((Range("year", low, high),) if low is not None or high is not None else ())


def _number(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number for a filter: {value!r}")
    return repr(int(value)) if isinstance(value, int) else repr(float(value))


def parse_filters(params: Mapping[str, Any], attributes: Mapping[str, str]) -> AttributeFilter:
    """The filter of a request's parameters: `{name}_min` / `{name}_max` for a numeric attribute,
    `{name}` for a string one (one value or a list: any of them). Values are typed (a JSON
    body) or text (a query string). Raises InvalidRequestError naming the parameter; a
    parameter that names no declared attribute is an error too."""
    ranges: dict[str, dict[str, float]] = {}
    values: dict[str, frozenset[str]] = {}
    for param, raw in params.items():
        name, side = _attribute_of(param, attributes)
        if side:
            ranges.setdefault(name, {})[side] = _bound(param, raw, attributes[name])
        else:
            values[name] = _values(param, raw)
    for name, bounds in ranges.items():
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise InvalidRequestError(
                f"{name}_min: must be at most {name}_max, got {bounds['min']} > {bounds['max']}")
    conditions = [Range(name, b.get("min"), b.get("max")) for name, b in sorted(ranges.items())]
    conditions += [OneOf(name, v) for name, v in sorted(values.items())]
    return AttributeFilter(tuple(conditions))


def _attribute_of(param: str, attributes: Mapping[str, str]) -> tuple[str, str]:
    """(attribute, "min" | "max" | "") of a filter parameter."""
    base, _, side = param.rpartition("_")
    if side in ("min", "max") and attributes.get(base) in NUMERIC:
        return base, side
    if attributes.get(param) == "string":
        return param, ""
    known = sorted(f"{n}_min, {n}_max" if kind in NUMERIC else n for n, kind in attributes.items())
    raise InvalidRequestError(f"{param}: not a parameter here; the attribute filters are {', '.join(known) or 'none'}")


def _bound(param: str, raw: Any, kind: str) -> float:
    raw = _one(param, raw)
    try:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError
        value = (int(raw) if kind == "int" else float(raw)) if isinstance(raw, str) else raw
        if kind == "int" and not isinstance(value, int) or not math.isfinite(value):
            raise ValueError
    except ValueError:
        wanted = "an integer" if kind == "int" else "a number"
        raise InvalidRequestError(f"{param}: must be {wanted}, got {raw!r}") from None
    return value


def _values(param: str, raw: Any) -> frozenset[str]:
    listed = raw if isinstance(raw, (list, tuple)) else [raw]
    if not listed or len(listed) > MAX_VALUES:
        raise InvalidRequestError(f"{param}: give 1 to {MAX_VALUES} values, got {len(listed)}")
    bad = [v for v in listed if not is_valid_value(v)]
    if bad:
        raise InvalidRequestError(f"{param}: {bad[0]!r} is not a value (text of 1 to 128 characters, "
                                  "no control characters, no leading or trailing space)")
    return frozenset(listed)


def _one(param: str, raw: Any) -> Any:
    if isinstance(raw, (list, tuple)):
        if len(raw) != 1:
            raise InvalidRequestError(f"{param}: give it once, got {len(raw)} values")
        return raw[0]
    return raw
