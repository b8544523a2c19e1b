"""Connecting a job to Ray: the cluster it was submitted to, or a local one."""

from __future__ import annotations

import logging
import os

import ray

log = logging.getLogger(__name__)


def init_ray(metrics_port: int | None = None) -> None:
    """Join the cluster in RAY_ADDRESS (set by `ray job submit`), else start a local one; with
    `metrics_port`, the local one exports Prometheus metrics there (a cluster's own port is
    `ray start --metrics-export-port`)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=True)
    else:
        # A local run needs no dashboard; it halves an idle cluster's memory.
        ray.init(include_dashboard=False, log_to_driver=True, _metrics_export_port=metrics_port)
    log.info("ray resources: %s", ray.cluster_resources())
