"""The NATS server with JetStream that every machine of this kind runs on 127.0.0.1:4222,
and throwaway streams on it for tests."""

from __future__ import annotations

import socket
import uuid

import pytest

NATS_URL = "nats://127.0.0.1:4222"


def require_nats() -> None:
    """Fail (not skip) when the server is down: a skipped backend would hide a broken one."""
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as error:
        pytest.fail(f"no NATS server on 127.0.0.1:4222 ({error}); start it with the command in "
                    "docs/operations.md (nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server)")


def new_stream_location() -> str:
    """A nats:// location naming a stream no test has used."""
    require_nats()
    return f"{NATS_URL}/TEST_{uuid.uuid4().hex[:12].upper()}"


def delete_stream(location: str) -> None:
    """Delete the stream (if it is there) and close this process's client of it."""
    from rec.storage.jetstream import delete_stream as delete

    delete(location)
