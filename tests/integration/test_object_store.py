"""The jobs and the service on object storage: LanceDB's tables, MLflow's artifacts and the
user shards' snapshots all on an S3 server on 127.0.0.1 (moto), chosen by URIs in config.
The embed and train jobs run, the app serves from what they wrote, and a restarted app's
shards resume from their snapshots there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from ray import serve

from conftest import REPO_ROOT
from rec.config import RecConfig, load_config

pytestmark = [pytest.mark.ray, pytest.mark.objectstore]

APP = "on-s3"


@pytest.fixture(scope="module")
def s3(rec_home: Path, object_store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A config with every store that can be on object storage in one new bucket; (its path, the bucket)."""
    bucket = object_store.new_bucket()
    home = tmp_path_factory.mktemp("s3_home")  # what stays local: the event log, MLflow's database
    path = home / "s3.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(REPO_ROOT / "configs" / "base.yaml"),
        "paths": {"home": str(home), "data_dir": str(rec_home / "data"),
                  "lancedb_uri": f"s3://{bucket}/lancedb", "mlflow_artifacts_uri": f"s3://{bucket}/mlartifacts",
                  "snapshot_dir": f"s3://{bucket}/snapshots"},
        "embed": {"actors": 1, "batch_size": 64},
        "train": {"model": {"d": 32, "layers": 1, "max_epochs": 1, "batch_size": 256, "threads": 1}},
        "serve": {"snapshot_every_events": 5},
    }))
    yield path, bucket


def _start(path: Path) -> None:
    from serve.app import AppArgs, build_app

    serve.run(build_app(AppArgs(config=str(path))), name=APP, route_prefix=f"/{APP}")


def test_the_jobs_and_the_service_run_on_object_storage(
    s3: tuple[Path, str], object_store, base_url: str,
) -> None:
    from jobs.embed_catalog import embed_catalog
    from jobs.train_interest import train_interest

    path, bucket = s3
    config: RecConfig = load_config(path)
    assert embed_catalog(config)["rows"] == 400
    trained = train_interest(config)
    assert trained["promoted"], trained
    keys = object_store.keys(bucket)
    assert any(k.startswith("lancedb/items.lance/") for k in keys)
    assert any(k.startswith(f"lancedb/{config.train.scoring_table}.lance/") for k in keys)
    assert any(k.startswith("mlartifacts/") and k.endswith("config.json") for k in keys)  # the encoder's weights

    _start(path)
    url = f"{base_url}/{APP}"
    events = [{"user_id": "on-s3-1", "item_id": str(i), "type": "like", "event_id": f"s3-{i}"} for i in range(1, 13)]
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/events", json=events).json()["accepted"] == 12
        before = http.get("/users/on-s3-1/recommendations", params={"k": 5}).json()
    assert before["n_events"] == 12 and len(before["items"]) == 5, before
    assert before["strategy"] == "interest-model" and before["model_version"] == trained["model_version"], before
    assert object_store.keys(bucket, "snapshots/"), "no snapshot reached the bucket"

    serve.delete(APP)  # every replica goes; the new ones know only the log and the bucket
    _start(path)
    with httpx.Client(base_url=url, timeout=60) as http:
        after = http.get("/users/on-s3-1/recommendations", params={"k": 5}).json()
    assert (after["n_events"], after["items"]) == (before["n_events"], before["items"])
    shards = [serve.get_deployment_handle(f"UserShard{i}", app_name=APP) for i in range(config.serve.user_shards)]
    resumed = [shard.started_from.remote().result(timeout_s=60) for shard in shards]
    assert any(r["snapshot"] is not None for r in resumed), resumed
    serve.delete(APP)
