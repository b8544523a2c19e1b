"""`make cluster-demo` as a user runs it (`rec cluster-demo --exit`, a process of its own):
S3, MLflow on PostgreSQL and three Ray nodes come up, the jobs run on the cluster, the app
answers from it, and everything the demo started is gone afterwards. Slow (about 3
minutes), and it takes the fixed ports 9000, 5001, 6390 and 8000: `pytest -m slow
tests/integration/test_cluster_demo.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from jobs.cluster_demo import RAY_TEMP_DIR

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.jetstream]


def test_the_cluster_demo_serves_from_three_nodes_and_stops_what_it_started(ml100k_dir: Path) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "jobs.cluster_demo", "--exit"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    summaries = {s["job"]: s for s in map(json.loads, (line for line in out.splitlines() if line.startswith('{"job"')))}
    assert summaries["embed_catalog"]["encoder_nodes"] == 2 and summaries["embed_catalog"]["rows"] == 1682
    assert summaries["train_interest"]["promoted"] is True
    layout = out[out.index("The cluster"):].splitlines()[1:4]
    workers = [line for line in layout if line.strip().startswith("worker")]
    assert len(workers) == 2 and all("UserShard" in line for line in workers), layout
    assert "strategy interest-model" in out
    leftover = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and RAY_TEMP_DIR.encode() in _cmdline(p)]
    assert not leftover, f"the demo left Ray processes running: {leftover}"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""
