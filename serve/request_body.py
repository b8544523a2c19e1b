"""Checks on a raw request body, made before any JSON parser sees it.

Pure functions on bytes; the serve edge (serve/body_limits.py) turns their
errors into HTTP statuses. They exist because a parser is the wrong place to
find these problems: a body too large should be refused before it is read
whole, and a body nested 100k levels deep exhausts the recursion of
`json.loads` (and of everything that walks the parsed value afterwards).
Each error message starts with "body:" and says what was wrong.
"""

from __future__ import annotations

import re

import numpy as np

from rec.errors import BodyTooLargeError, RequestBodyError

# A JSON string: quote, then runs of plain characters or escapes, then quote.
# Unrolled (no alternation inside the repeat) so it is linear in the body.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# A \uD800-\uDFFF escape, preceded by an even run of backslashes (so `\\ud800`,
# an escaped backslash and the letters "ud800", is not one).
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u([dD][89a-fA-F][0-9a-fA-F]{2})")
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"]}", dtype=np.uint8)


def check_declared_size(content_length: int | None, max_bytes: int) -> None:
    """Refuse a body whose Content-Length is over `max_bytes` (before reading it)."""
    if content_length is not None and content_length > max_bytes:
        raise BodyTooLargeError(f"body: {content_length} bytes, at most {max_bytes}")


def check_read_size(bytes_read: int, max_bytes: int) -> None:
    """Refuse a body once more than `max_bytes` of it have arrived (chunked, or a
    Content-Length that understated it)."""
    if bytes_read > max_bytes:
        raise BodyTooLargeError(f"body: at least {bytes_read} bytes, at most {max_bytes}")


def check_json_text(body: bytes, max_depth: int) -> None:
    """Refuse a body that is not UTF-8, escapes a lone UTF-16 surrogate (not a
    character: no valid string can hold it), or nests arrays and objects more
    than `max_depth` levels deep. Whether it is valid JSON is the parser's job."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestBodyError(
            f"body: not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})"
        ) from None
    _check_surrogates(body)
    depth = json_depth(body)
    if depth > max_depth:
        raise RequestBodyError(f"body: JSON nested {depth} levels deep, at most {max_depth}")


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in `body` (0 for a scalar), brackets
    inside strings not counted. Linear time, no recursion."""
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', body), dtype=np.uint8)
    steps = np.isin(skeleton, _OPENERS).astype(np.int64) - np.isin(skeleton, _CLOSERS)
    return int(np.cumsum(steps).max(initial=0))


def _check_surrogates(body: bytes) -> None:
    """Every \\uD800-\\uDBFF escape must be followed at once by a \\uDC00-\\uDFFF one,
    and every low one must follow a high one."""
    pending_high: re.Match[bytes] | None = None  # a high surrogate awaiting its low half
    for match in _SURROGATE_ESCAPE.finditer(body):
        escape_start = match.start(1) - 2
        is_low = match.group(1)[1:2].lower() in b"cdef"
        if pending_high is not None and is_low and escape_start == pending_high.end():
            pending_high = None
            continue
        if pending_high is not None or is_low:
            _raise_lone_surrogate(pending_high or match)
        pending_high = match
    if pending_high is not None:
        _raise_lone_surrogate(pending_high)


def _raise_lone_surrogate(match: re.Match[bytes]) -> None:
    escape = "\\u" + match.group(1).decode("ascii")
    raise RequestBodyError(
        f"body: {escape} at offset {match.start(1) - 2} is a lone UTF-16 surrogate, not a character"
    )
