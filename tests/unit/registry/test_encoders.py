"""Tests for rec.registry.encoders with a real sqlite MLflow store in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest

from base_config import BASE, changed
from rec.config import PathsConfig
from rec.errors import NotReadyError
from rec.registry.encoders import (
    ITEMS_TABLE_TAG,
    ITEMS_VERSION_TAG,
    connect,
    ensure_encoder,
    publish_items_version,
    resolve_encoder,
)

CONFIG = changed(BASE.encoder, device="cpu")
_REC_ENV = ("REC_HOME", "REC_LANCEDB_URI", "REC_MLFLOW_TRACKING_URI", "REC_EVENT_LOG_DIR")


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> PathsConfig:
    """A fresh MLflow home for this module; mlflow's global URIs are put back afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_") or k in _REC_ENV}
    for name in _REC_ENV:
        os.environ.pop(name, None)
    home = tmp_path_factory.mktemp("mlflow-home")
    yield PathsConfig(home=str(home)).resolved()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for key in [k for k in os.environ if k.startswith("MLFLOW_") or k in _REC_ENV]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="module")
def first(paths):
    """ensure_encoder on an empty store: registers the shipped weights."""
    return ensure_encoder(CONFIG, paths)


def test_paths_point_into_tmp(paths):
    assert paths.mlflow_tracking_uri == f"sqlite:///{Path(paths.home) / 'mlflow.db'}"
    assert paths.mlflow_artifacts_uri == str(Path(paths.home) / "mlartifacts")


def test_missing_model_is_not_ready(paths):
    other = changed(BASE.encoder, registered_name="no-such-encoder")
    with pytest.raises(NotReadyError, match="no-such-encoder@champion"):
        resolve_encoder(other, paths)


def test_ensure_registers_version_1_with_alias(first, paths):
    assert (first.name, first.version, first.tag) == ("text-encoder", "1", "text-encoder/1")
    client = connect(paths)
    versions = client.search_model_versions("name='text-encoder'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("text-encoder", "champion").version) == "1"
    assert first.items_table is None and first.items_table_version is None


def test_ensure_twice_does_not_register_again(first, paths):
    again = ensure_encoder(CONFIG, paths)
    assert again.version == "1"
    assert again.model_dir == first.model_dir
    versions = connect(paths).search_model_versions("name='text-encoder'")
    assert len(versions) == 1


def test_resolve_gives_local_weights(first, paths):
    resolved = resolve_encoder(CONFIG, paths)
    model_dir = Path(resolved.model_dir)
    assert model_dir == Path(paths.home) / "model-cache" / "text-encoder" / "1"
    assert (model_dir / "config.json").is_file()
    assert (model_dir / "model.safetensors").is_file()
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_resolve_missing_alias_is_not_ready(first, paths):
    with pytest.raises(NotReadyError, match="challenger"):
        resolve_encoder(CONFIG, paths, alias="challenger")


def test_publish_items_version_is_read_back(first, paths):
    publish_items_version(first, "items", 7, paths)
    resolved = resolve_encoder(CONFIG, paths)
    assert resolved.items_table == "items"
    assert resolved.items_table_version == 7
    tags = connect(paths).get_model_version("text-encoder", "1").tags
    assert tags[ITEMS_TABLE_TAG] == "items" and tags[ITEMS_VERSION_TAG] == "7"
    publish_items_version(first, "items", 8, paths)  # the pointer moves
    assert resolve_encoder(CONFIG, paths).items_table_version == 8


def test_pyfunc_predicts_sentence_vectors(first, paths):
    connect(paths)
    model = mlflow.pyfunc.load_model("models:/text-encoder@champion")
    out = np.asarray(model.predict(["a", "b"]))
    assert out.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_the_registered_encoder_has_a_signature_and_an_example_and_checks_its_input(first, paths):
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    connect(paths)
    info = Model.load("models:/text-encoder@champion")
    assert info.signature.inputs.to_dict() == [{"type": "string", "required": True}]
    assert info.load_input_example("models:/text-encoder@champion") == ["a space adventure with robots"]
    with pytest.raises(MlflowException, match="Expected type str"):
        mlflow.pyfunc.load_model("models:/text-encoder@champion").predict([3, 4])


def test_other_weights_get_a_new_version_and_the_alias_only_when_published(first, paths, tmp_path):
    """A new encoder (encoder.source_dir) is registered beside the champion; the alias
    moves to it only with its items table, so until then the old encoder stays live."""
    import shutil

    from rec.encoding.encoder import default_model_dir

    other_dir = tmp_path / "other-weights"
    shutil.copytree(default_model_dir(), other_dir, copy_function=os.link)  # another folder, no copy
    other = CONFIG.model_copy(update={"source_dir": str(other_dir)})
    client = connect(paths)
    champion_before = str(client.get_model_version_by_alias("text-encoder", "champion").version)

    new = ensure_encoder(other, paths)
    assert new.version != champion_before and new.items_table_version is None
    assert str(client.get_model_version_by_alias("text-encoder", "champion").version) == champion_before
    assert ensure_encoder(other, paths).version == new.version  # found again by its source, not re-registered
    assert ensure_encoder(CONFIG, paths).version == champion_before  # no source_dir: the champion

    publish_items_version(new, "items", 9, paths, alias="champion")
    live = resolve_encoder(CONFIG, paths)
    assert (live.version, live.items_table_version) == (new.version, 9)
    assert ensure_encoder(other, paths).version == new.version
    client.set_registered_model_alias("text-encoder", "champion", champion_before)  # as the other tests expect
