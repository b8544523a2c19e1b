"""ASGI middleware that refuses bad request bodies before FastAPI reads them.

413 for a body over `serve.max_body_bytes` (from Content-Length, or counted
while reading when it is chunked or understated), 422 for one that is not
UTF-8, escapes a lone surrogate or nests deeper than `serve.max_json_depth`
(serve/request_body.py). The reply is JSON `{"detail": "body: ..."}` like every
other 4xx of the API, and no route runs, so nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rec.config import ServeConfig
from rec.errors import BodyTooLargeError, RequestBodyError
from serve.request_body import check_declared_size, check_json_text, check_read_size


class _ClientGone(Exception):
    """The client disconnected before sending its whole body."""


class RequestBodyLimits:
    """Read the body under the byte limit, check it, then hand it to `app` unchanged.

    `serve_config` returns the live limits; it is called per request because
    the app object is built at import time, before the config is known."""

    def __init__(self, app: ASGIApp, serve_config: Callable[[], ServeConfig]) -> None:
        self.app = app
        self.serve_config = serve_config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.serve_config()
        try:
            check_declared_size(_content_length(scope), limits.max_body_bytes)
            body = await _read_body(receive, limits.max_body_bytes)
            check_json_text(body, limits.max_json_depth)
        except _ClientGone:
            return
        except BodyTooLargeError as exc:
            await JSONResponse({"detail": str(exc)}, status_code=413)(scope, receive, send)
            return
        except RequestBodyError as exc:
            await JSONResponse({"detail": str(exc)}, status_code=422)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read_body(receive: Receive, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        check_read_size(size, max_bytes)  # stop reading at once, not after the whole body
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the body read already, then defers to the real one
    (which reports the disconnect when the client goes)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
