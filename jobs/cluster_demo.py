"""The production layout on this machine: `make cluster-demo` (python -m jobs.cluster_demo).

Starts on 127.0.0.1 moto's S3 server (:9000), an MLflow tracking server on PostgreSQL
(:5001, database rec_cluster, artifacts in s3://rec-cluster/mlartifacts) and a Ray
cluster of a head and two worker nodes (`ray start`, the head on :6390). It uses the
NATS JetStream server on :4222 (stream REC_CLUSTER). It runs the embed and train jobs
on the cluster, as `ray job submit` would run them, then serves the app from it on
127.0.0.1:8000, with one HTTP proxy, on the head. It replays MovieLens users and shows
where each replica runs. Ctrl-C stops everything it started.

The config is configs/cluster.yaml. Every run starts from nothing: the bucket lives in
moto's memory, and the database and the stream are made again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from jobs.cli import setup_logging
from jobs.demo import BASE_URL, demo_events, show
from rec.config import load_config
from rec.storage.jetstream import delete_stream

log = logging.getLogger(__name__)

CONFIG = "configs/cluster.yaml"
BUCKET = "rec-cluster"
S3_PORT, MLFLOW_PORT, RAY_PORT, SERVE_PORT = 9000, 5001, 6390, 8000
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "rec_cluster"
WORKER_NODES, WORKER_CPUS = 2, 2
RAY_TEMP_DIR = "/tmp/rec-cluster-ray"  # short: Ray's socket paths have a length limit
S3_ENV = {  # what LanceDB, pyarrow and boto3 read; the Ray nodes and the MLflow server inherit it
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}", "AWS_ALLOW_HTTP": "true",
    "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Services:
    """The servers this demo starts, stopped in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.processes = logs, []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str], port: int) -> None:
        with open(self.logs / f"{name}.log", "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start on 127.0.0.1:{port}: see {self.logs / name}.log")
            time.sleep(0.2)
        log.info("%s on 127.0.0.1:%d (pid %d)", name, port, process.pid)

    def stop(self) -> None:
        stop_processes([p.pid for p in reversed(self.processes)])
        for process in self.processes:
            process.poll()  # reaped


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def stop_processes(pids: list[int]) -> None:
    """TERM, then KILL what is left after 10 s: only these processes."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"  # a zombie is gone
    except (FileNotFoundError, IndexError):
        return False


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {DATABASE}")


def start_ray_nodes() -> None:
    """A head with no CPUs (the drivers, Serve's controller and proxy) and two worker nodes."""
    ray = str(Path(sys.executable).parent / "ray")
    # Each node's dashboard agent on a port of its own: they would all take 52365.
    subprocess.run([ray, "start", "--head", "--port", str(RAY_PORT), "--num-cpus", "0", "--temp-dir", RAY_TEMP_DIR,
                    "--include-dashboard", "false", "--dashboard-agent-listen-port", str(_free_port()),
                    "--disable-usage-stats"], check=True, capture_output=True)
    for _ in range(WORKER_NODES):
        subprocess.run([ray, "start", "--address", f"127.0.0.1:{RAY_PORT}", "--num-cpus", str(WORKER_CPUS),
                        "--dashboard-agent-listen-port", str(_free_port()), "--disable-usage-stats",
                        "--include-log-monitor", "false"],  # the head's reads every node's logs: one machine
                       check=True, capture_output=True)
    log.info("Ray: a head and %d worker nodes of %d CPUs, head on :%d", WORKER_NODES, WORKER_CPUS, RAY_PORT)


def stop_ray_nodes() -> None:
    """Every process of this demo's cluster (their command lines name its temp dir): not `ray
    stop`, which would stop every Ray on the machine."""
    stop_processes([int(proc.name) for proc in Path("/proc").iterdir()
                    if proc.name.isdigit() and RAY_TEMP_DIR.encode() in _cmdline(proc)])


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(module: str) -> None:
    """A job on the cluster, as `ray job submit` runs it: its driver joins RAY_ADDRESS."""
    log.info("running %s on the cluster", module)
    subprocess.run([sys.executable, "-m", module, "--config", CONFIG], check=True)


def show_layout() -> None:
    import ray

    nodes = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
    where: dict[str, list[str]] = {node: [] for node in nodes}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith("SERVE_REPLICA::recommender#"):
            handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
            node = ray.get(handle.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id()))
            where[node].append(actor["name"].split("#")[1])
    print("\nThe cluster (every node on this machine):")
    for node, deployments in where.items():
        cpus = nodes[node]["Resources"].get("CPU", 0)
        role = "head" if "node:__internal_head__" in nodes[node]["Resources"] else "worker"
        print(f"  {role} {node[:8]} ({cpus:.0f} CPUs): {', '.join(sorted(deployments)) or 'drivers, Serve controller and proxy'}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exit", action="store_true", help="stop after the demo instead of serving on")
    args = parser.parse_args()
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    taken = [port for port in (S3_PORT, MLFLOW_PORT, RAY_PORT, SERVE_PORT) if _listening(port)]
    if taken:
        raise SystemExit(f"port(s) {taken} on 127.0.0.1 are in use: stop what holds them (a `make demo`?)")
    for port, what in ((4222, "NATS JetStream"), (5432, "PostgreSQL")):
        if not _listening(port):
            raise SystemExit(f"no {what} on 127.0.0.1:{port}: docs/operations.md says how to start it")
    config = load_config(CONFIG)
    os.environ.update(S3_ENV)
    signal.signal(signal.SIGTERM, _interrupt)
    services = Services(Path(config.paths.home) / "logs")
    try:
        services.start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(S3_PORT)], S3_PORT)
        import boto3
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        fresh_database()
        delete_stream(config.paths.event_log_dir)  # made again by the first shard
        services.start("mlflow", [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"{POSTGRES}/{DATABASE}",
            "--artifacts-destination", f"s3://{BUCKET}/mlartifacts", "--host", "127.0.0.1",
            "--port", str(MLFLOW_PORT), "--workers", "1",
        ], MLFLOW_PORT)
        start_ray_nodes()
        os.environ["RAY_ADDRESS"] = f"127.0.0.1:{RAY_PORT}"
        run_job("jobs.embed_catalog")
        run_job("jobs.train_interest")
        serve_app(config, args.exit)
    except KeyboardInterrupt:
        pass
    finally:
        stop_ray_nodes()
        services.stop()


def serve_app(config, exit_after: bool) -> None:
    import ray
    from ray import serve

    from jobs.cluster import init_ray
    from serve.app import AppArgs, build_app

    init_ray()
    try:
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": SERVE_PORT})
        serve.run(build_app(AppArgs(config=CONFIG)), name="recommender", route_prefix="/")
        show_layout()
        with httpx.Client(base_url=BASE_URL, timeout=60) as client:
            show(client, demo_events(config, 5, 40), config, metrics=False)
        print(f"\nS3 (moto) http://127.0.0.1:{S3_PORT}, MLflow http://127.0.0.1:{MLFLOW_PORT}, "
              f"JetStream stream REC_CLUSTER on 127.0.0.1:4222; logs in {Path(config.paths.home) / 'logs'}")
        while not exit_after:
            time.sleep(3600)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
