"""The jobs and the service on a shared registry: an MLflow tracking server whose backend
store is PostgreSQL (127.0.0.1:5432) and which keeps the artifacts itself, as a team runs it.

The embed job finds the server through REC_MLFLOW_TRACKING_URI, registers the encoder
(its weights uploaded to the server) and publishes the items table; an app built with
the same variable serves from what it resolves there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from catalog_items import FILTERABLE
from local_ports import free_port
from conftest import REPO_ROOT
from rec.config import load_config

pytestmark = [pytest.mark.ray, pytest.mark.postgres]

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def _postgres(database: str, sql: str) -> list[tuple]:
    """Run one statement outside any transaction (CREATE DATABASE needs that); its rows."""
    import psycopg

    connection = psycopg.connect(f"{POSTGRES}/{database}", autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`mlflow server` on a database of its own; yields (its URL, the database's name)."""
    database = f"rec_mlflow_{uuid.uuid4().hex[:8]}"
    _postgres("postgres", f"CREATE DATABASE {database}")
    port, folder = free_port(), tmp_path_factory.mktemp("mlflow_server")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"{POSTGRES}/{database}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # it creates its schema in the new database first
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not come up in 180 s"
            time.sleep(1)
        yield url, database
    finally:
        server.terminate()
        server.wait(timeout=30)
        _postgres("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def test_jobs_and_service_share_a_postgres_backed_registry(
    ray_cluster: str, base_url: str, rec_home: Path, tmp_path: Path, tracking_server: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray import serve

    from jobs.embed_catalog import embed_catalog
    from rec.registry.encoders import connect
    from serve.app import AppArgs, build_app

    url, database = tracking_server
    shutil.copytree(rec_home / "data", tmp_path / "data")
    settings = {"inherit": str(REPO_ROOT / "configs" / "base.yaml"), "paths": {"home": str(tmp_path)},
                "catalog": {"filterable": FILTERABLE}, "embed": {"actors": 1, "batch_size": 64},
                "serve": {"interest_model_alias": None}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("REC_MLFLOW_TRACKING_URI", url)
    config = load_config(path)
    assert config.paths.mlflow_tracking_uri == url and config.paths.mlflow_artifacts_uri is None

    summary = embed_catalog(config)
    champion = connect(config.paths).get_model_version_by_alias("text-encoder", "champion")
    assert f"text-encoder/{champion.version}" == summary["encoder"]
    assert champion.tags["items_table_version"] == str(summary["table_version"])
    # What the server keeps, it keeps in PostgreSQL.
    assert _postgres(database, "SELECT name FROM registered_models") == [("text-encoder",)]
    assert _postgres(database, "SELECT count(*) FROM runs")[0][0] >= 2  # the encoder's registration, the embed run
    assert not (tmp_path / "mlartifacts").exists()  # the weights went to the server, not beside the job

    # The service, with the same variable where the app is built (serve run, rec serve).
    serve.run(build_app(AppArgs(config=str(path))), name="shared-registry", route_prefix="/shared")
    try:
        with httpx.Client(base_url=f"{base_url}/shared", timeout=60) as http:
            assert http.post("/events", json=[{"user_id": "pg-user", "item_id": "1", "type": "like",
                                               "event_id": "pg-1"}]).status_code == 200
            answer = http.get("/users/pg-user/recommendations", params={"k": 5}).json()
        assert answer["encoder_version"] == summary["encoder"] and len(answer["items"]) == 5
    finally:
        serve.delete("shared-registry")
