"""Every log here has two backends: a folder of JSON-lines files, and a JetStream stream
(the real server on 127.0.0.1:4222, a stream of the test's own)."""

from __future__ import annotations

import pytest

from jetstream_server import delete_stream, new_stream_location


@pytest.fixture(params=["jsonl", pytest.param("jetstream", marks=pytest.mark.jetstream)])
def location(request, tmp_path):
    if request.param == "jsonl":
        yield tmp_path / "log"
        return
    location = new_stream_location()
    yield location
    delete_stream(location)
