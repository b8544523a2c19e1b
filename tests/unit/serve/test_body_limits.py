"""Tests for serve.body_limits, the ASGI middleware, on a bare ASGI app (no Ray, no HTTP)."""

from __future__ import annotations

import asyncio
import json

import pytest

from base_config import BASE, changed
from serve.body_limits import RequestBodyLimits

LIMITS = changed(BASE.serve, max_body_bytes=100, max_json_depth=4)


class _RecordingApp:
    """An inner app that records the body it was given and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _call(chunks: list[bytes], content_length: int | None = None) -> tuple[int, dict | None, _RecordingApp]:
    """POST `chunks` as the body through the middleware; (status, JSON reply or None, inner app)."""
    inner = _RecordingApp()
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    scope = {"type": "http", "method": "POST", "path": "/events", "headers": headers}
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(RequestBodyLimits(inner, lambda: LIMITS)(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body) if status != 200 else None, inner


def test_a_good_body_reaches_the_app_unchanged():
    status, _, inner = _call([b'[{"a": ', b"[1]}]"], content_length=12)
    assert status == 200 and inner.bodies == [b'[{"a": [1]}]']


def test_declared_length_over_the_limit_is_refused_unread():
    status, reply, inner = _call([b"x" * 10], content_length=101)
    assert (status, reply) == (413, {"detail": "body: 101 bytes, at most 100"})
    assert inner.bodies == []


@pytest.mark.parametrize("content_length", [None, 10])  # chunked, or a Content-Length that lies
def test_a_body_that_grows_past_the_limit_is_refused_while_reading(content_length: int | None):
    status, reply, inner = _call([b"[" + b" " * 60, b" " * 60, b"]"], content_length=content_length)
    assert (status, reply) == (413, {"detail": "body: at least 121 bytes, at most 100"})
    assert inner.bodies == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"user_id": "\xff"}', "body: not valid UTF-8 (byte 0xff at offset 13)"),
        (b"[[[[[]]]]]", "body: JSON nested 5 levels deep, at most 4"),
        (b'{"text": "\\udfff"}', "body: \\udfff at offset 10 is a lone UTF-16 surrogate, not a character"),
    ],
)
def test_malformed_body_is_refused_with_422(body: bytes, detail: str):
    status, reply, inner = _call([body], content_length=len(body))
    assert (status, reply) == (422, {"detail": detail})
    assert inner.bodies == []


def test_client_gone_mid_body_does_not_reach_the_app():
    inner = _RecordingApp()
    messages = [{"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:  # pragma: no cover - nothing is sent
        raise AssertionError(message)

    scope = {"type": "http", "method": "POST", "path": "/events", "headers": []}
    asyncio.run(RequestBodyLimits(inner, lambda: LIMITS)(scope, receive, send))
    assert inner.bodies == []
