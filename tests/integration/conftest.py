"""One local Ray cluster, one embedded catalogue and one Serve app per session.

The catalogue is the first 400 MovieLens-100k items, embedded by the real
job with the real encoder into LanceDB under a temporary REC_HOME, with a
real MLflow store; the app answers real HTTP on a free 127.0.0.1 port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from catalog_items import FILTERABLE, write_fixture_catalog
from local_ports import free_port
from rec.config import RecConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOG_ITEMS = 400

MODEL_APP_KEY = "model-app-test-key"  # the second app requires X-API-Key on its writes


@pytest.fixture(scope="session")
def rec_home(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> Path:
    """A REC_HOME with a 400-item MovieLens catalogue and its events. The catalogue also has
    the columns FILTERABLE declares (made up from the ids, some left empty), as a platform's
    catalogue would."""
    home = tmp_path_factory.mktemp("rec_home")
    write_fixture_catalog(home, ml100k_dir, CATALOG_ITEMS)
    return home


@pytest.fixture(scope="session")
def config_path(rec_home: Path) -> Path:
    """A config that inherits configs/base.yaml with everything under rec_home."""
    path = rec_home / "test.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(REPO_ROOT / "configs" / "base.yaml"),
        "paths": {"home": str(rec_home)},
        "catalog": {"filterable": FILTERABLE},
        "embed": {"actors": 2, "batch_size": 64},
        "serve": {"interest_model_alias": None},  # this app tests the per-event interest vector
    }))
    return path


@pytest.fixture(scope="session")
def config(config_path: Path) -> RecConfig:
    return load_config(config_path)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory, object_store) -> Iterator[str]:
    """A local Ray for the session; yields the URL of its Prometheus metrics. The S3 server
    starts first, so that Ray's workers inherit where it is (tests/object_store_server.py)."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    temp_dir = Path("/tmp") / f"ray-test-{os.getpid()}"  # short: Ray's socket paths have a length limit
    # 6 logical CPUs on 2 cores (scheduling only): room for both apps' replicas (about 1.5 each)
    # and, beside them, an embed job's actors and read tasks. With 4, an embed job that ran
    # after the second app started waited for CPUs forever.
    # Metrics on a free port of their own, reported each second (Ray's default: 10 s).
    metrics_port = free_port()
    ray.init(address="local", include_dashboard=False, num_cpus=6, _temp_dir=str(temp_dir),
             _metrics_export_port=metrics_port, _system_config={"metrics_report_interval_ms": 1000})
    yield f"http://127.0.0.1:{metrics_port}/metrics"
    ray.shutdown()


@pytest.fixture(scope="session")
def embed_summary(ray_cluster: str, config: RecConfig) -> dict:
    """The embed job, run once for the session."""
    from jobs.embed_catalog import embed_catalog

    return embed_catalog(config)


@pytest.fixture(scope="session")
def base_url(embed_summary: dict, config_path: Path) -> Iterator[str]:
    """The Serve app on a free port; shut down after the session."""
    from ray import serve

    from serve.app import AppArgs, build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(AppArgs(config=str(config_path))), name="recommender", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


@pytest.fixture()
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def model_config_path(rec_home: Path) -> Path:
    """The same stores with a tiny model to train, an event log of its own
    (a second app must not share the first one's shard log files) and an API key."""
    path = rec_home / "test-model.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(REPO_ROOT / "configs" / "base.yaml"),
        "paths": {"home": str(rec_home), "event_log_dir": str(rec_home / "events-model-app")},
        "catalog": {"filterable": FILTERABLE},
        "serve": {"api_key": MODEL_APP_KEY},
        "train": {"model": {"d": 32, "layers": 1, "max_epochs": 3, "batch_size": 256, "threads": 1,
                            "use_time_gaps": True, "time_attention": True,  # served times must match
                            "run_position": True}},
    }))
    return path


@pytest.fixture(scope="session")
def train_summary(embed_summary: dict, model_config_path: Path) -> dict:
    """The training job, run once for the session (after the embed job)."""
    from jobs.train_interest import train_interest

    return train_interest(load_config(model_config_path))


@pytest.fixture(scope="session")
def model_base_url(base_url: str, train_summary: dict, model_config_path: Path) -> str:
    """A second app, serving with the champion interest model, under /m."""
    from ray import serve

    from serve.app import AppArgs, build_app

    serve.run(build_app(AppArgs(config=str(model_config_path))), name="with-model", route_prefix="/m")
    return f"{base_url}/m"


@pytest.fixture()
def model_client(model_base_url: str) -> Iterator[httpx.Client]:
    """A client of the second app that sends its API key."""
    with httpx.Client(base_url=model_base_url, headers={"X-API-Key": MODEL_APP_KEY}, timeout=60) as http:
        yield http


@pytest.fixture(params=["per-event", "model"])
def either_client(
    request: pytest.FixtureRequest, client: httpx.Client, model_client: httpx.Client,
) -> tuple[str, httpx.Client]:
    """(which, its client): a test that must hold for the per-event vector app and for the app with a model."""
    return request.param, client if request.param == "per-event" else model_client
