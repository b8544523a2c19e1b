"""The layout of the multi-node tests' cluster (tests/multinode), and handles on it."""

from __future__ import annotations

from dataclasses import dataclass

from rec.config import RecConfig

CATALOG_ITEMS = 200
WORKER_NODES = 2
WORKER_CPUS = 3  # logical CPUs: one worker node alone takes every replica of the app
USER_SHARDS = 4
INGRESS_REPLICAS = 2
SNAPSHOT_EVERY = 20
WORKER_OBJECT_STORE = 300 * 2**20


@dataclass
class Cluster:
    """The cluster, and its worker nodes by Ray node id."""

    utils: object  # ray.cluster_utils.Cluster
    workers: dict[str, object]  # node id -> ray._private.node.Node

    def add_worker(self) -> str:
        node = self.utils.add_node(num_cpus=WORKER_CPUS, object_store_memory=WORKER_OBJECT_STORE)
        self.workers[node.node_id] = node
        return node.node_id

    def remove(self, node_id: str) -> None:
        """The node's processes killed with SIGKILL, as when a machine is lost."""
        self.utils.remove_node(self.workers.pop(node_id), allow_graceful=False)


@dataclass
class ClusterApp:
    url: str
    config: RecConfig
    item_ids: list[str]
