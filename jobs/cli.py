"""The shared shape of a job's entry point: --config in, one JSON line out."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable

from rec.config import RecConfig, load_config


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_config_job(doc: str, example_config: str, job: Callable[[RecConfig], dict], needs_ray: bool = False) -> None:
    """Parse --config, run `job` on it and print its summary as one JSON line."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help=f"YAML config, e.g. {example_config}")
    args = parser.parse_args()
    setup_logging()
    config = load_config(args.config)
    if needs_ray:
        from jobs.cluster import init_ray

        init_ray()
    print(json.dumps(job(config)))
