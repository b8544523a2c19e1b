"""Tests for rec.catalog.filters: parsing a request's attribute filters, and the three ways
of applying one (SQL, in-memory columns, one item) agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from rec.catalog.filters import NO_FILTER, OneOf, Range, parse_filters, year_range
from rec.errors import InvalidRequestError

ATTRIBUTES = {"year": "int", "runtime": "int", "rating": "float", "language": "string"}


def test_numbers_take_ranges_and_text_takes_values_from_a_query_string_or_a_body():
    from_query = parse_filters({"runtime_min": ["90"], "rating_max": ["7.5"], "language": ["en", "fr"]}, ATTRIBUTES)
    from_body = parse_filters({"runtime_min": 90, "rating_max": 7.5, "language": ["en", "fr"]}, ATTRIBUTES)
    assert from_query == from_body == parse_filters({"language": ["fr", "en"], "rating_max": 7.5, "runtime_min": 90},
                                                    ATTRIBUTES)
    assert from_query.conditions == (Range("rating", None, 7.5), Range("runtime", 90, None),
                                     OneOf("language", frozenset({"en", "fr"})))
    assert from_query.sql() == "(rating <= 7.5) AND (runtime >= 90) AND (language IN ('en', 'fr'))"
    assert parse_filters({"language": "en"}, ATTRIBUTES).sql() == "(language IN ('en'))"
    assert parse_filters({}, ATTRIBUTES) == NO_FILTER and not NO_FILTER


@pytest.mark.parametrize("params, named", [
    ({"runtime": ["90"]}, "runtime"),                      # a number takes a range, not a value
    ({"language_min": ["en"]}, "language_min"),             # text takes values, not a range
    ({"colour": ["red"]}, "colour"),                        # not declared
    ({"runtime_min": ["ninety"]}, "runtime_min"),
    ({"runtime_min": ["9.5"]}, "runtime_min"),              # an int attribute takes integers
    ({"runtime_min": [True]}, "runtime_min"),
    ({"rating_min": ["nan"]}, "rating_min"),
    ({"rating_max": [float("inf")]}, "rating_max"),
    ({"runtime_min": ["90", "100"]}, "runtime_min"),        # a bound is given once
    ({"runtime_min": 120, "runtime_max": 90}, "runtime_min"),
    ({"language": ["en\n"]}, "language"),
    ({"language": [" en"]}, "language"),
    ({"language": [7]}, "language"),
    ({"language": []}, "language"),
    ({"language": ["x"] * 21}, "language"),
])
def test_a_bad_filter_is_refused_naming_its_parameter(params, named):
    with pytest.raises(InvalidRequestError, match=f"^{named}: "):
        parse_filters(params, ATTRIBUTES)


def test_the_refusal_lists_the_filters_there_are():
    with pytest.raises(InvalidRequestError, match="language, rating_min, rating_max, runtime_min, runtime_max"):
        parse_filters({"colour": "red"}, ATTRIBUTES)


def test_a_quote_in_a_value_stays_inside_the_sql_literal():
    assert parse_filters({"language": ["O'Neil"]}, ATTRIBUTES).sql() == "(language IN ('O''Neil'))"


def test_sql_masks_and_holds_agree_on_every_item():
    rng = np.random.default_rng(1)
    runtimes = [None if n % 4 == 0 else int(v) for n, v in enumerate(rng.integers(60, 180, size=200))]
    languages = [None if n % 6 == 0 else ["en", "fr", "de"][n % 3] for n in range(200)]
    columns = {"runtime": np.array([np.nan if v is None else float(v) for v in runtimes]),
               "language": np.array(["" if v is None else v for v in languages])}
    for low, high, wanted in [(90, 120, {"en"}), (None, 100, {"fr", "de"}), (150, None, {"en", "de"})]:
        condition = parse_filters({**({"runtime_min": low} if low else {}), **({"runtime_max": high} if high else {}),
                                   "language": sorted(wanted)}, ATTRIBUTES)
        held = [condition.holds({"runtime": r, "language": lang}) for r, lang in zip(runtimes, languages)]
        expected = [r is not None and (low is None or r >= low) and (high is None or r <= high) and lang in wanted
                    for r, lang in zip(runtimes, languages)]
        assert held == expected and condition.mask(columns, 200).tolist() == expected and any(expected)


def test_an_item_without_the_attribute_is_outside():
    assert not year_range(1990).holds({"year": None}) and not year_range(1990).holds({})
    assert year_range(1990, 1995).holds({"year": 1995}) and not year_range(1990, 1995).holds({"year": 1996})
    assert year_range().holds({}) and year_range() == NO_FILTER
