"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """Folder holding RecBole's ``ml-100k.inter``.

    Taken from env var ``REC_ML100K_DIR``, else ``var/data/ml-100k`` under the
    repo root; the test is skipped when the folder is missing.
    """
    folder = Path(os.environ.get("REC_ML100K_DIR", REPO_ROOT / "var" / "data" / "ml-100k"))
    if not folder.is_dir():
        pytest.skip(f"ML-100k folder {folder} not found: set REC_ML100K_DIR or fetch the data")
    return folder


@pytest.fixture(scope="session")
def anchors_dir() -> Path:
    """Shared reference files (``../shared/anchors`` next to the repo); skipped when missing."""
    folder = REPO_ROOT.parent / "shared" / "anchors"
    if not folder.is_dir():
        pytest.skip(f"anchor folder {folder} not found")
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The multi-node tests first: their cluster lives in this process, which holds one Ray
    at a time, and must be gone before the integration tests start their single-node one
    (which lives until the session ends)."""
    items.sort(key=lambda item: item.get_closest_marker("multinode") is None)


@pytest.fixture(scope="session")
def object_store():
    """moto's S3 server on 127.0.0.1, for the session; this process's S3 clients point at it."""
    from object_store_server import start_object_store

    store = start_object_store()
    yield store
    store.stop()
