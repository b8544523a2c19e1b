"""The same code on three Ray nodes (tests/multinode/conftest.py): the embed job's encoder
actors spread over the worker nodes, user shards on different nodes lose no update, and
when a worker node is lost (its raylet and every process on it killed with SIGKILL) no
acknowledged event is lost: its shards start again on the node that is left and rebuild
their users from their snapshots and the JetStream log.

Short versions run by default; `pytest -m slow tests/multinode` runs the long ones.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import ray
from ray import serve

from durability_checks import (
    APP, Clients, assert_live_equals_log, assert_log_holds_acked_once, drive_and_kill, make_batches,
    replica_nodes, replica_pids, wait_for_replacements,
)
from multinode_cluster import INGRESS_REPLICAS, USER_SHARDS, WORKER_NODES, Cluster, ClusterApp
from rec.config import RecConfig
from rec.storage.new_item_log import read_new_items

pytestmark = [pytest.mark.ray, pytest.mark.multinode, pytest.mark.jetstream]


def test_the_cluster_has_a_head_and_two_worker_nodes(cluster: Cluster) -> None:
    alive = [node for node in ray.nodes() if node["Alive"]]
    assert len(alive) == 1 + WORKER_NODES
    assert {node["NodeID"] for node in alive if node["Resources"].get("CPU")} == set(cluster.workers)


def test_the_embed_jobs_encoder_actors_spread_over_the_nodes(
    cluster_embed_summary: dict, cluster_config: RecConfig,
) -> None:
    assert cluster_embed_summary["rows"] == 200
    assert cluster_embed_summary["encoder_nodes"] == WORKER_NODES  # one encoder actor a node


def test_user_shards_on_different_nodes_lose_no_update(cluster_app: ClusterApp, tmp_path: Path) -> None:
    """The concurrency test of tests/integration/test_durability.py, with the shards spread out."""
    nodes = replica_nodes()
    shard_nodes = {name: node for name, node in nodes.items() if "#UserShard" in name}
    assert len(shard_nodes) == USER_SHARDS and len(set(shard_nodes.values())) == WORKER_NODES, nodes
    assert len(replica_nodes("Ingress")) == INGRESS_REPLICAS
    users = [f"spread-{i}" for i in range(8)]  # some on every shard
    clients = Clients(cluster_app.url)
    clients.run(make_batches("spread", users, cluster_app.item_ids, 400, threads=8, batch_size=2, seed=11))
    assert clients.acked == clients.sent
    assert len(assert_log_holds_acked_once(cluster_app.config, clients)) == 400
    assert_live_equals_log(cluster_app.config, users, tmp_path)


def test_new_and_hidden_items_reach_every_ingress_replica_through_jetstream(cluster_app: ClusterApp) -> None:
    """Both ingress replicas follow the same subjects: whichever one answers knows the new
    item and leaves the hidden one out."""
    new = {"item_id": "cluster-new-1", "title": "Moon Cheese Odyssey", "year": 2031, "categories": ["Sci-Fi"]}
    with httpx.Client(base_url=cluster_app.url, timeout=60) as http:
        assert http.post("/items", json=new).status_code == 200
        top = http.get("/users/nobody-yet/recommendations", params={"k": 1}).json()["items"][0]["item_id"]
        assert http.post(f"/items/{top}/hide").json()["hidden"] is True
        try:
            for _ in range(4 * INGRESS_REPLICAS):  # the proxy spreads requests over both replicas
                assert http.get("/items/cluster-new-1/similar", params={"k": 3}).status_code == 200
                popular = http.get("/users/nobody-yet/recommendations", params={"k": 10}).json()["items"]
                assert top not in [item["item_id"] for item in popular]
        finally:
            assert http.post(f"/items/{top}/unhide").json()["hidden"] is False
    assert "cluster-new-1" in [item.item_id for item in read_new_items(cluster_app.config.paths.new_items_dir)]


@pytest.mark.parametrize("n_events", [
    pytest.param(300, id="short"), pytest.param(2000, id="long", marks=pytest.mark.slow),
])
def test_losing_a_worker_node_loses_no_acknowledged_event(
    cluster: Cluster, cluster_app: ClusterApp, tmp_path: Path, n_events: int,
) -> None:
    while len(cluster.workers) < WORKER_NODES:  # a node lost by an earlier run of this test
        cluster.add_worker()
    nodes = replica_nodes()
    # The node with the most user shards goes: the other one takes its replicas.
    doomed = max(cluster.workers, key=lambda node: sum(
        n == node for name, n in nodes.items() if "#UserShard" in name))
    on_doomed = {name: pid for name, pid in replica_pids().items() if nodes.get(name) == doomed}
    assert any("#UserShard" in name for name in on_doomed), nodes
    users = [f"node-loss-{n_events}-{i}" for i in range(24)]
    clients = Clients(cluster_app.url)
    batches = make_batches(f"nl{n_events}", users, cluster_app.item_ids, n_events, threads=4, batch_size=3, seed=12)

    def lose_the_node() -> dict[str, int]:
        cluster.remove(doomed)
        return on_doomed

    run = drive_and_kill(clients, batches, lose_the_node, after_acks=n_events // 3)

    after = wait_for_replacements(run["killed"], timeout_s=180)
    assert doomed not in replica_nodes().values()
    assert {n for n in replica_nodes().values()} <= set(cluster.workers)
    assert clients.acked == clients.sent  # every request got its 2xx in the end
    assert len(assert_log_holds_acked_once(cluster_app.config, clients)) == n_events
    assert_live_equals_log(cluster_app.config, users, tmp_path)
    with httpx.Client(base_url=cluster_app.url, timeout=60) as http:
        assert http.get(f"/users/{users[0]}/recommendations").json()["n_events"] > 0
    resumed = [serve.get_deployment_handle(name.split("#")[1], app_name=APP).started_from.remote().result(timeout_s=60)
               for name in after if "#UserShard" in name]
    assert resumed and all(r["snapshot"] is not None for r in resumed), resumed
    print(f"\n{n_events} events; lost node {doomed[:8]} with {sorted(on_doomed)} after "
          f"{run['acked_at_kill']} acks; {clients.resends} resends")
