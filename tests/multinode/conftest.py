"""A Ray cluster of three nodes on this machine, made with Ray's cluster utilities: a head
(no CPUs: the driver, Serve's controller and its one HTTP proxy) and two worker nodes that
run everything else. The catalogue is embedded on it by the real job, and the app is served
from it with its event log on JetStream, the shared log a node's loss cannot take away.

The cluster lives in this pytest process, which can hold one Ray at a time, so the root
conftest runs these tests before any test that starts the single-node one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import lancedb
import pytest
import yaml

from catalog_items import write_fixture_catalog
from jetstream_server import delete_stream, new_stream_location
from local_ports import free_port
from multinode_cluster import (
    CATALOG_ITEMS, INGRESS_REPLICAS, SNAPSHOT_EVERY, USER_SHARDS, WORKER_NODES, Cluster, ClusterApp,
)
from rec.config import RecConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    import ray
    from ray.cluster_utils import Cluster as RayCluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    assert not ray.is_initialized(), "the multi-node tests run before any test that starts a local Ray"
    # Ray's cluster utilities note the head's address in /tmp/ray/ray_current_cluster, where
    # a plain ray.init() on this machine would look for a cluster to join: removed afterwards.
    address_file = Path("/tmp/ray/ray_current_cluster")
    address_file.parent.mkdir(exist_ok=True)
    utils = RayCluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "gcs_server_port": free_port(),  # Redis holds 6379, Ray's default
        "include_dashboard": False, "dashboard_agent_listen_port": free_port(),
        "metrics_export_port": free_port(), "temp_dir": f"/tmp/ray-multinode-{os.getpid()}",
        # A lost node is declared dead after about 3 s (Ray's default: 5 missed checks 3 s apart).
        "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3},
    })
    cluster = Cluster(utils, {})
    for _ in range(WORKER_NODES):
        cluster.add_worker()
    utils.wait_for_nodes()
    utils.connect()
    address = utils.gcs_address
    yield cluster
    ray.shutdown()
    utils.shutdown()
    if address_file.exists() and address_file.read_text() == address:
        address_file.unlink()


@pytest.fixture(scope="module")
def cluster_home(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> Path:
    home = tmp_path_factory.mktemp("multinode_home")
    write_fixture_catalog(home, ml100k_dir, CATALOG_ITEMS)
    return home


@pytest.fixture(scope="module")
def cluster_config_path(cluster_home: Path) -> Iterator[Path]:
    """Four user shards and two ingress replicas, to spread over the nodes; the event log and
    the new and hidden items on JetStream."""
    event_log = new_stream_location()
    path = cluster_home / "multinode.yaml"
    path.write_text(yaml.safe_dump({
        "inherit": str(REPO_ROOT / "configs" / "base.yaml"),
        "paths": {"home": str(cluster_home), "event_log_dir": event_log, "new_items_dir": event_log},
        "embed": {"actors": WORKER_NODES, "batch_size": 32},
        "serve": {"interest_model_alias": None, "user_shards": USER_SHARDS, "ingress_replicas": INGRESS_REPLICAS,
                  "snapshot_every_events": SNAPSHOT_EVERY},
    }))
    yield path
    delete_stream(event_log)


@pytest.fixture(scope="module")
def cluster_config(cluster_config_path: Path) -> RecConfig:
    return load_config(cluster_config_path)


@pytest.fixture(scope="module")
def cluster_embed_summary(cluster: Cluster, cluster_config: RecConfig) -> dict:
    """The embed job, run on the cluster from this driver (as `ray job submit` runs it)."""
    from jobs.embed_catalog import embed_catalog

    return embed_catalog(cluster_config)


@pytest.fixture(scope="module")
def cluster_app(
    cluster_embed_summary: dict, cluster_config_path: Path, cluster_config: RecConfig,
) -> Iterator[ClusterApp]:
    """The app on the cluster; one HTTP proxy, on the head (every node here is 127.0.0.1)."""
    from ray import serve

    from durability_checks import APP
    from serve.app import AppArgs, build_app

    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(AppArgs(config=str(cluster_config_path))), name=APP, route_prefix=f"/{APP}")
    items = lancedb.connect(cluster_config.paths.lancedb_uri).open_table(cluster_config.embed.table).to_arrow()
    yield ClusterApp(f"http://127.0.0.1:{port}/{APP}", cluster_config, items["item_id"].to_pylist())
    serve.shutdown()
