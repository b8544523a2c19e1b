"""The nightly pipeline end to end on its own stores: one parent MLflow run with a nested run
per step and its artifacts; a failed step leaves the aliases the service reads as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException

from conftest import REPO_ROOT
from jobs.nightly import STEPS, StepFailed, nightly
from jobs.train_interest import train_interest
from rec.config import RecConfig, load_config
from rec.registry.encoders import connect, resolve_encoder
from rec.registry.interest_models import resolve_interest_model

pytestmark = pytest.mark.ray


def _config(home: Path, **train: object) -> RecConfig:
    path = home / f"nightly-{len(train)}.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(REPO_ROOT / "configs" / "nightly.yaml"),
        "paths": {"home": str(home)},
        "embed": {"actors": 2, "batch_size": 64},
        "train": {"model": {"d": 32, "layers": 1, "max_epochs": 2, "batch_size": 256, "threads": 1}, **train},
    }))
    return load_config(path)


@pytest.fixture(scope="module")
def home(rec_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stores of its own (LanceDB, MLflow) over the session's 400-item catalogue."""
    home = tmp_path_factory.mktemp("nightly_home")
    shutil.copytree(rec_home / "data", home / "data")
    return home


def test_one_run_embeds_trains_evaluates_gates_and_promotes(ray_cluster: str, home: Path) -> None:
    config = _config(home)
    summary = nightly(config)
    assert summary["ok"] and list(summary["steps"]) == list(STEPS)
    assert summary["promoted"] and "first champion" in summary["gate"]
    champion = resolve_interest_model(config.train.registered_name, config.train.champion_alias, config.paths)
    assert summary["challenger"] == champion.tag
    assert resolve_encoder(config.encoder, config.paths).items_table_version == summary["items_table_version"]
    (label, figures), = summary["evaluation"].items()  # no champion before: the challenger alone
    assert "(challenger)" in label and 0 < figures["NDCG@10"] < 1

    client = connect(config.paths)
    parent = client.get_run(summary["mlflow_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    names = sorted(r.info.run_name for r in children if r.info.run_name != "register-text-encoder")  # first run only
    assert names == sorted(["embed_catalog", "train_interest", "evaluate", "gate", "promote", "reload"])
    assert all(r.info.status == "FINISHED" for r in children)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.json", "dataset_fingerprint.json", "summary.json"} <= artifacts
    evaluate = next(r for r in children if r.info.run_name == "evaluate")
    assert {"evaluation.json", "evaluation.png"} <= {a.path for a in client.list_artifacts(evaluate.info.run_id)}
    assert parent.data.tags["gate"] == summary["gate"]

    # The registered model checks its input: histories of item indices, as its example shows.
    connect(config.paths)
    model = mlflow.pyfunc.load_model(f"models:/{config.train.registered_name}@{config.train.champion_alias}")
    assert np.asarray(model.predict([[0, 1, 2], [3]])).shape[0] == 2
    with pytest.raises(MlflowException, match="Expected type int"):
        model.predict([["a", "b"]])


def test_a_failed_step_restores_the_aliases_and_names_the_step(ray_cluster: str, home: Path) -> None:
    config = _config(home)
    if resolve_interest_model(config.train.registered_name, config.train.champion_alias, config.paths) is None:
        nightly(config)  # a champion to keep (run alone, this test starts from nothing)
    before_items = resolve_encoder(config.encoder, config.paths).items_table_version
    before_champion = resolve_interest_model(config.train.registered_name, config.train.champion_alias,
                                             config.paths).version
    failing = _config(home, fail_after_epochs=1)
    with pytest.raises(StepFailed) as failed:
        nightly(failing)
    assert failed.value.step == "train"
    # The embed step had published a new items table version: it is put back.
    assert resolve_encoder(config.encoder, config.paths).items_table_version == before_items
    assert resolve_interest_model(config.train.registered_name, config.train.champion_alias,
                                  config.paths).version == before_champion
    client = connect(config.paths)
    experiment = client.get_experiment_by_name(config.nightly.experiment)
    last = client.search_runs([experiment.experiment_id], "tags.failed_step = 'train'")
    assert len(last) == 1 and last[0].info.status == "FAILED"


def test_rec_promote_moves_the_alias_back(ray_cluster: str, home: Path) -> None:
    import subprocess
    import sys

    config = _config(home)
    name, alias = config.train.registered_name, config.train.champion_alias
    if resolve_interest_model(name, alias, config.paths) is None:
        nightly(config)
    trained = train_interest(config, promote=False)["model_version"].rsplit("/", 1)[1]  # a later version
    before = resolve_interest_model(name, alias, config.paths).version
    rec = [str(Path(sys.executable).parent / "rec"), "promote", name]
    config_path = str(home / "nightly-0.yaml")
    subprocess.run([*rec, trained, "--config", config_path], check=True, capture_output=True, timeout=120)
    assert resolve_interest_model(name, alias, config.paths).version == trained
    subprocess.run([*rec, before, "--config", config_path], check=True, capture_output=True, timeout=120)  # the rollback
    assert resolve_interest_model(name, alias, config.paths).version == before
