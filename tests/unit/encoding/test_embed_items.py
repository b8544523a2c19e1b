"""embed_items with the real encoder, keeping the vectors of unchanged items from a real
LanceDB table version (rec.storage.unchanged_vectors)."""

from __future__ import annotations

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from base_config import BASE, changed
from rec.encoding.batch import VECTOR_REUSED, embed_items
from rec.encoding.encoder import TextEncoder, default_model_dir
from rec.storage.unchanged_vectors import PreviousVersion, UnchangedVectors, embed_settings, reusable_version

TAG = "text-encoder/1"
SETTINGS = embed_settings(max_length=128, dtype="float32")


def catalogue(titles: dict[str, str]) -> pa.Table:
    return pa.table({"item_id": list(titles), "title": list(titles.values()),
                     "categories": [["Drama"]] * len(titles), "year": pa.array([1990] * len(titles), pa.int32())})


TITLES = {"1": "Toy Story", "2": "Heat", "3": "Fargo", "4": "Star Wars"}


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(default_model_dir(), changed(BASE.encoder, device="cpu"))


@pytest.fixture
def previous(tmp_path, encoder) -> PreviousVersion:
    """A table version embedded from TITLES with SETTINGS."""
    rows = embed_items(catalogue(TITLES), encoder, BASE.catalog, {}, TAG).drop_columns([VECTOR_REUSED])
    db_uri = str(tmp_path / "lancedb")
    lancedb.connect(db_uri).create_table("items", data=rows.replace_schema_metadata(SETTINGS))
    found = reusable_version(db_uri, "items", TAG, SETTINGS)
    assert found is not None
    return found


def test_only_items_whose_text_changed_are_embedded_again(encoder, previous):
    edited = {**TITLES, "2": "Heat (director's cut)", "5": "Alien"}  # one changed, one new
    before = embed_items(catalogue(TITLES), encoder, BASE.catalog, {}, TAG)
    after = embed_items(catalogue(edited), encoder, BASE.catalog, {}, TAG, UnchangedVectors(previous))
    assert dict(zip(after["item_id"].to_pylist(), after[VECTOR_REUSED].to_pylist())) == {
        "1": True, "2": False, "3": True, "4": True, "5": False}
    vectors = dict(zip(after["item_id"].to_pylist(), after["vector"].to_numpy(zero_copy_only=False)))
    old = dict(zip(before["item_id"].to_pylist(), before["vector"].to_numpy(zero_copy_only=False)))
    for item_id in ("1", "3", "4"):
        np.testing.assert_array_equal(vectors[item_id], old[item_id])
    fresh = encoder.encode(after["text"].to_pylist()[1:2] + after["text"].to_pylist()[4:5])
    np.testing.assert_allclose(np.stack([vectors["2"], vectors["5"]]), fresh, atol=1e-5)
    assert float(vectors["2"] @ old["2"]) < 0.99  # the changed text got its own vector


def test_another_encoder_keeps_nothing(encoder, previous):
    other = PreviousVersion(previous.dataset_uri, previous.version, "text-encoder/2")
    rows = embed_items(catalogue(TITLES), encoder, BASE.catalog, {}, "text-encoder/2", UnchangedVectors(other))
    assert not any(rows[VECTOR_REUSED].to_pylist())


def test_a_version_made_with_other_settings_or_none_is_not_reused(tmp_path, previous):
    db_uri = str(tmp_path / "lancedb")
    assert reusable_version(db_uri, "items", TAG, embed_settings(max_length=32, dtype="float32")) is None
    assert reusable_version(db_uri, "items", TAG, embed_settings(max_length=128, dtype="bfloat16")) is None
    assert reusable_version(db_uri, "missing", TAG, SETTINGS) is None
    table = lancedb.connect(db_uri).open_table("items")
    lancedb.connect(db_uri).create_table("no_settings", data=table.to_arrow().replace_schema_metadata({}))
    assert reusable_version(db_uri, "no_settings", TAG, SETTINGS) is None
