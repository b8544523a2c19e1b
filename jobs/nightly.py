"""The nightly pipeline: one MLflow run over every step that refreshes the service.

    python -m jobs.nightly --config configs/nightly.yaml [--serve-url http://127.0.0.1:8000]

1. embed: the catalogue, into a new items table version (jobs/embed_catalog.py);
2. train: a new interest model version, registered as the challenger
   (jobs/train_interest.py);
3. evaluate: champion and challenger on the same split, test and validation;
4. gate: the challenger wins only on validation NDCG@10 above the champion's;
5. promote: it becomes the champion;
6. reload: the running service at --serve-url (or nightly.serve_url) goes live on
   the new versions (POST /admin/reload), when one is given.

A parent run holds a nested run per step, the config used, a fingerprint of the
data, the evaluation table and chart, and the gate's decision. If a step fails,
the aliases the service reads are put back as they were before the pipeline
(the encoder's items table version, the champion), so nothing live changes; the
run is tagged with the failed step. Ends with one JSON line, and exits 1 on a
failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import mlflow

from jobs.cli import setup_logging
from jobs.cluster import init_ray
from jobs.embed_catalog import embed_catalog
from jobs.evaluate import draw_chart, mlflow_safe
from jobs.train_interest import load_training_data, test_metrics, train_interest
from rec.config import RecConfig, load_config
from rec.errors import NotReadyError
from rec.interest.model import load_model
from rec.registry import encoders as registry
from rec.registry import interest_models as models

log = logging.getLogger(__name__)

STEPS = ("embed", "train", "evaluate", "gate", "promote", "reload")


class StepFailed(Exception):
    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step {step} failed: {cause!r}")
        self.step = step


def fingerprint(paths: list[str]) -> dict:
    """What the run was made from: each input file's size and SHA-256."""
    out = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[path] = {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}
    return out


class LiveAliases:
    """The pointers the service reads, as they were before the pipeline: what a failure restores."""

    def __init__(self, config: RecConfig) -> None:
        self.config = config
        try:
            self.encoder = registry.resolve_encoder(config.encoder, config.paths)
        except NotReadyError:  # nothing embedded yet: nothing live to keep
            self.encoder = None
        champion = models.resolve_interest_model(config.train.registered_name, config.train.champion_alias,
                                                 config.paths)
        self.champion = champion.version if champion else None

    def restore(self) -> None:
        config = self.config
        if self.encoder is not None and self.encoder.items_table_version is not None:
            registry.publish_items_version(self.encoder, self.encoder.items_table, self.encoder.items_table_version,
                                           config.paths, alias=config.encoder.alias)
        now = models.resolve_interest_model(config.train.registered_name, config.train.champion_alias, config.paths)
        if (now.version if now else None) != self.champion:
            models.promote(config.train.registered_name, self.champion, config.paths, config.train.champion_alias)


def evaluate_versions(config: RecConfig, challenger: str) -> dict[str, dict[str, float]]:
    """Test and validation figures of the champion and `challenger` on the same split (the
    live catalogue and the training events), as the service ranks with each."""
    live = registry.resolve_encoder(config.encoder, config.paths)
    data, _ = load_training_data(config, live)
    name, results = config.train.registered_name, {}
    for alias in (config.train.champion_alias, config.train.challenger_alias):
        version = models.resolve_interest_model(name, alias, config.paths)
        if version is None or models.read_item_ids(version.model_dir) != data.item_index.ids.tolist():
            log.info("%s@%s: none on this catalogue, not evaluated", name, alias)
            continue
        label = f"interest model v{version.version} ({alias})"
        results[label] = {**test_metrics(load_model(version.model_dir), data, config.interest),
                          "valid_NDCG@10": version.valid_ndcg10}
    if not any(f" v{challenger} (" in label for label in results):
        raise RuntimeError(f"the challenger v{challenger} could not be evaluated")
    return results


def reload_service(url: str, api_key: str | None) -> dict:
    headers = {"X-API-Key": api_key} if api_key else {}
    reply = httpx.post(f"{url.rstrip('/')}/admin/reload", headers=headers, timeout=600)
    if reply.status_code != 200:
        raise RuntimeError(f"POST {url}/admin/reload: {reply.status_code} {reply.text}")
    return reply.json()


def nightly(config: RecConfig, serve_url: str | None = None) -> dict:
    """Run every step; returns the summary (raises StepFailed, after restoring the aliases)."""
    started = time.perf_counter()
    serve_url = serve_url or config.nightly.serve_url
    steps: dict[str, dict] = {}
    before = LiveAliases(config)
    registry.use_experiment(config.nightly.experiment, config.paths)
    with mlflow.start_run(run_name="nightly") as parent:
        mlflow.log_dict(config.model_dump(mode="json", exclude={"serve": {"api_key"}}), "config.json")
        data_files = [config.catalog.path, config.train.events_path]
        mlflow.log_dict(fingerprint(data_files), "dataset_fingerprint.json")

        @contextmanager
        def step(name: str, nested_run: bool = True):
            """Time the step, in a nested run of its own unless the job makes one."""
            log.info("nightly: %s", name)
            began = time.perf_counter()
            try:
                if nested_run:
                    with mlflow.start_run(run_name=name, nested=True):
                        yield
                else:
                    yield
            except Exception as exc:
                mlflow.set_tags({"failed_step": name, "error": repr(exc)[:4000]})
                before.restore()
                raise StepFailed(name, exc) from exc
            steps[name] = {"duration_s": round(time.perf_counter() - began, 1)}

        with step("embed", nested_run=False):  # the jobs nest their own runs (registry.job_run)
            embedded = embed_catalog(config)
        steps["embed"].update(table_version=embedded["table_version"], encoder=embedded["encoder"])
        with step("train", nested_run=False):
            trained = train_interest(config, promote=False)
        challenger = trained["model_version"].rsplit("/", 1)[1]
        steps["train"].update(model_version=trained["model_version"], valid_ndcg10=trained["valid_NDCG@10"])
        with step("evaluate"):
            results = evaluate_versions(config, challenger)
            for label, metrics in results.items():
                alias = label.rsplit("(", 1)[1].rstrip(")")  # champion, challenger
                mlflow.log_metrics({f"{alias}_{k}": v for k, v in mlflow_safe(metrics).items()})
            mlflow.log_dict(results, "evaluation.json")
            with tempfile.TemporaryDirectory() as tmp:
                draw_chart(results, Path(tmp) / "evaluation.png")
                mlflow.log_artifact(str(Path(tmp) / "evaluation.png"))
        with step("gate"):
            promote, reason = models.gate(config.train.registered_name, challenger, config.paths,
                                          config.train.champion_alias)
            mlflow.log_dict({"promote": promote, "reason": reason, "challenger": challenger}, "gate.json")
        mlflow.set_tags({"gate": reason, "promoted": str(promote)})
        log.info("gate: %s", reason)
        with step("promote"):
            if promote:
                models.promote(config.train.registered_name, challenger, config.paths, config.train.champion_alias)
        with step("reload"):
            reloaded = reload_service(serve_url, config.serve.api_key) if serve_url else None
        if reloaded:
            steps["reload"].update(changed=reloaded["changed"], live=reloaded["live"])
        summary = {
            "job": "nightly", "ok": True, "encoder": embedded["encoder"], "items_table_version": embedded["table_version"],
            "challenger": trained["model_version"], "promoted": promote, "gate": reason,
            "evaluation": {label: {k: round(v, 4) for k, v in m.items()} for label, m in results.items()},
            "reloaded": reloaded["changed"] if reloaded else None, "steps": steps,
            "duration_s": round(time.perf_counter() - started, 1), "mlflow_run_id": parent.info.run_id,
        }
        mlflow.log_dict(summary, "summary.json")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/nightly.yaml")
    parser.add_argument("--serve-url", help="the running service to reload at the end (default nightly.serve_url)")
    args = parser.parse_args(argv)
    setup_logging()
    config = load_config(args.config)
    init_ray()
    try:
        summary = nightly(config, args.serve_url)
    except StepFailed as failed:
        log.exception("nightly failed")
        print(json.dumps({"job": "nightly", "ok": False, "failed_step": failed.step, "error": str(failed),
                          "aliases": "restored as before the run"}))
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
