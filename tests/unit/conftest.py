"""Unit tests run without Ray: rec/ is plain Python, and a test that starts a
cluster belongs in tests/integration/."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*args, **kwargs):
        raise RuntimeError("a unit test started Ray: move it to tests/integration/")

    monkeypatch.setattr(ray, "init", refuse)
