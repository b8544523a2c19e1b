"""Tests for serve.request_body: byte limits, UTF-8, lone surrogates and nesting depth."""

from __future__ import annotations

import json
import time

import pytest

from rec.errors import BodyTooLargeError, RequestBodyError
from serve.request_body import check_declared_size, check_json_text, check_read_size, json_depth


def test_declared_size_over_the_limit_names_both_numbers():
    check_declared_size(None, 10)
    check_declared_size(10, 10)
    with pytest.raises(BodyTooLargeError, match=r"^body: 11 bytes, at most 10$"):
        check_declared_size(11, 10)


def test_read_size_over_the_limit():
    check_read_size(10, 10)
    with pytest.raises(BodyTooLargeError, match=r"^body: at least 4096 bytes, at most 10$"):
        check_read_size(4096, 10)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b'"[[[["', 0),  # brackets inside a string do not count
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'[{"user_id": "u", "item_id": "1", "type": "like"}]', 2),
        (b'["\\"[[", ["\\\\"], [[]]]', 3),  # escaped quote and backslash keep the string boundaries
        (b"[[[]]][[]]", 3),
        (b"]]]][", 0),  # malformed: a parser stops at the stray "]", before it recurses
    ],
)
def test_json_depth(body: bytes, depth: int):
    assert json_depth(body) == depth


def test_deep_nesting_is_refused_naming_the_depth():
    check_json_text(b"[" * 32 + b"]" * 32, max_depth=32)
    with pytest.raises(RequestBodyError, match=r"^body: JSON nested 33 levels deep, at most 32$"):
        check_json_text(b"[" * 33 + b"]" * 33, max_depth=32)


def test_100k_levels_are_measured_fast_without_recursion():
    body = b"[" * 100_000 + b"]" * 100_000
    started = time.perf_counter()
    with pytest.raises(RequestBodyError, match="nested 100000 levels"):
        check_json_text(body, max_depth=32)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(RecursionError):  # what the check saves the parser from
        json.loads(body)


def test_invalid_utf8_is_refused_naming_the_byte():
    with pytest.raises(RequestBodyError, match=r"^body: not valid UTF-8 \(byte 0xff at offset 13\)$"):
        check_json_text(b'{"user_id": "\xff", "type": "like"}', max_depth=32)
    with pytest.raises(RequestBodyError, match="not valid UTF-8"):  # a surrogate encoded as UTF-8 bytes
        check_json_text('"\ud800"'.encode("utf-8", "surrogatepass"), max_depth=32)
    check_json_text('{"text": "café 東京 🎬"}'.encode(), max_depth=32)


@pytest.mark.parametrize(
    "body",
    [b'"\\ud800"', b'"\\uDC00"', b'"\\ud83d x \\ude00"', b'"\\ud83d\\ud83d\\ude00"', b'"a\\\\\\ud800"'],
)
def test_lone_surrogate_escape_is_refused(body: bytes):
    lone = r"^body: \\u[dD][0-9a-fA-F]{3} at offset \d+ is a lone UTF-16 surrogate, not a character$"
    with pytest.raises(RequestBodyError, match=lone):
        check_json_text(body, max_depth=32)


@pytest.mark.parametrize("body", [b'"\\ud83d\\ude00"', b'"\\\\ud800"', b'"\\u00e9 \\n \\\\"'])
def test_paired_surrogates_and_escaped_backslashes_pass(body: bytes):
    check_json_text(body, max_depth=32)
    json.loads(body).encode("utf-8")  # what the check promises: every string is encodable
