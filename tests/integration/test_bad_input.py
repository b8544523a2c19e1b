"""Bad request bodies over real HTTP: each gets a 4xx whose detail names the
problem, the app keeps serving, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rec.config import RecConfig

pytestmark = pytest.mark.ray

USER = "bad-input-user"
JSON = {"content-type": "application/json"}


def _log_lines(config: RecConfig) -> int:
    return sum(len(p.read_text().splitlines()) for p in Path(config.paths.event_log_dir).glob("*.jsonl"))


@pytest.fixture()
def nothing_written(client: httpx.Client, config: RecConfig) -> Iterator[None]:
    """USER has one event; after the test they still have exactly that one, and the log is unchanged."""
    first = {"user_id": USER, "item_id": "1", "type": "view", "event_id": "first"}
    client.post("/events", json=first).raise_for_status()
    assert client.get(f"/users/{USER}/recommendations").json()["n_events"] == 1
    lines_before = _log_lines(config)
    yield
    assert client.get("/healthz").json() == {"status": "ok"}  # the replica survived
    assert client.get(f"/users/{USER}/recommendations").json()["n_events"] == 1
    assert _log_lines(config) == lines_before


def _event(**fields: object) -> dict:
    return {"user_id": USER, "item_id": "2", "type": "like", **fields}


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("path", ["/events", "/recommendations/text"])
def test_body_over_the_byte_limit_is_413_from_content_length(
    client: httpx.Client, config: RecConfig, path: str
) -> None:
    limit = config.serve.max_body_bytes
    body = json.dumps(_event(text="x" * limit)).encode()
    reply = client.post(path, content=body, headers=JSON)
    assert reply.status_code == 413
    assert reply.json() == {"detail": f"body: {len(body)} bytes, at most {limit}"}


@pytest.mark.usefixtures("nothing_written")
def test_chunked_body_over_the_byte_limit_is_413_while_reading(client: httpx.Client, config: RecConfig) -> None:
    limit = config.serve.max_body_bytes
    chunk = (json.dumps(_event()) + ",").encode() * 1000  # ~60 kB of valid-looking events per chunk

    def body() -> Iterator[bytes]:  # no Content-Length: httpx sends Transfer-Encoding: chunked
        yield b"["
        for _ in range(limit // len(chunk) + 2):
            yield chunk

    reply = client.post("/events", content=body(), headers=JSON)
    assert reply.status_code == 413
    detail = reply.json()["detail"]
    assert detail.startswith("body: at least ") and detail.endswith(f" bytes, at most {limit}")


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/events", b'{"user_id": "bad-input-user", "item_id": "2", "type": "lik\xe9"}',
         "body: not valid UTF-8 (byte 0xe9 at offset 58)"),
        ("/recommendations/text", b'{"text": "caf\xe9 society", "k": 5}',
         "body: not valid UTF-8 (byte 0xe9 at offset 13)"),
        ("/recommendations/text", b'{"text": "\xed\xa0\x80", "k": 5}',  # a surrogate as UTF-8 bytes
         "body: not valid UTF-8 (byte 0xed at offset 10)"),
    ],
)
def test_body_not_utf8_is_422_naming_the_byte(client: httpx.Client, path: str, body: bytes, detail: str) -> None:
    reply = client.post(path, content=body, headers=JSON)
    assert (reply.status_code, reply.json()) == (422, {"detail": detail})


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/events", b'{"user_id": "a\\ud800", "item_id": "2", "type": "like"}'),  # was a 500: the 422 echoed it
        ("/recommendations/text", b'{"text": "space \\udc00 opera", "k": 5}'),
    ],
)
def test_lone_surrogate_escape_is_422(client: httpx.Client, path: str, body: bytes) -> None:
    reply = client.post(path, content=body, headers=JSON)
    assert reply.status_code == 422
    assert "is a lone UTF-16 surrogate, not a character" in reply.json()["detail"]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("path", "body", "depth"),
    [
        ("/events", b"[" * 100_000 + b"]" * 100_000, 100_000),
        ("/events", b'{"user_id": "bad-input-user", "item_id": "2", "type": "like", "timestamp": '
         + b"[" * 40 + b"]" * 40 + b"}", 41),
        ("/recommendations/text", b'{"text": "x", "k": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", 5_001),
    ],
)
def test_deeply_nested_json_is_422_naming_the_depth(
    client: httpx.Client, config: RecConfig, path: str, body: bytes, depth: int
) -> None:
    reply = client.post(path, content=body, headers=JSON)
    assert reply.status_code == 422
    assert reply.json() == {"detail": f"body: JSON nested {depth} levels deep, at most {config.serve.max_json_depth}"}


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [  # found by schemathesis: pydantic's lax mode took `true` as 1
        ("/events", _event(timestamp=True), "timestamp"),
        ("/recommendations/text", {"text": "space opera", "k": True}, "k"),
        ("/recommendations/text", {"text": "space opera", "k": "5"}, "k"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_422(client: httpx.Client, path: str, body: dict, field: str) -> None:
    reply = client.post(path, json=body)
    assert reply.status_code == 422
    assert field in {str(part) for error in reply.json()["detail"] for part in error["loc"]}


@pytest.mark.usefixtures("nothing_written")
def test_too_many_events_is_413_naming_the_limit(client: httpx.Client, config: RecConfig) -> None:
    most = config.serve.max_events_per_request
    reply = client.post("/events", json=[_event(event_id=f"e{i}") for i in range(most + 1)])
    assert reply.status_code == 413
    assert reply.json() == {"detail": f"body: at most {most} events per request"}


def test_a_body_just_under_the_limits_is_accepted(client: httpx.Client, config: RecConfig) -> None:
    """The limits leave the largest legal request room: the most events, with the longest ids."""
    most = config.serve.max_events_per_request
    events = [
        {"user_id": "u" * 128, "item_id": "1", "type": "add_to_cart", "event_id": f"{i:0128d}",
         "timestamp": "2020-01-01T00:00:00+00:00"}
        for i in range(most)
    ]
    body = json.dumps(events).encode()
    assert len(body) <= config.serve.max_body_bytes
    reply = client.post("/events", content=body, headers=JSON)
    assert reply.status_code == 200, reply.text
    assert reply.json()["received"] == most
