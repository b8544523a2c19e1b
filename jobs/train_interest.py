"""Nightly job: train the interest-evolution model, register it, gate it.

    python -m jobs.train_interest --config configs/train_interest.yaml

Learns from the event history (leave-one-out: the last event of each user is
the test target, the one before it the validation target, the rest train),
starting from the item text vectors of the live encoder. Then:
1. logs the run (parameters, per-epoch validation NDCG@10, test metrics) to MLflow;
2. registers the model as a new version with alias `challenger`;
3. writes its item scoring vectors to a new version of the LanceDB scoring
   table and tags the model version with it;
4. the gate: the version becomes `champion` (what serve uses) only if its
   validation NDCG@10 beats the current champion's; the decision is logged.
A failure at any step before 4 leaves the champion, and so serve, untouched;
`train.fail_after_epochs` injects one half way through training (for tests).
Ends with one JSON line.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
from tqdm import tqdm

from jobs.cli import run_config_job
from rec.registry import encoders as registry
from rec.registry import interest_models as interest_registry
from rec.config import InterestConfig, RecConfig
from rec.evaluation.harness import EvalData, interest_model_scores, load_eval_data
from rec.evaluation.metrics import rank_users, summarize
from rec.registry.encoders import EncoderVersion
from rec.storage.items_table import index_if_large, write_version
from rec.interest.model import InterestEvolutionModel, save_model
from rec.interest.training import fit_on_split

log = logging.getLogger(__name__)


def load_training_data(config: RecConfig, live: EncoderVersion) -> tuple[EvalData, pa.Table]:
    """The split over the live catalogue, and the catalogue rows (for the scoring table)."""
    return load_eval_data(config.paths.lancedb_uri, live.items_table, live.items_table_version, config.train.events_path)


def scoring_rows(catalogue: pa.Table, data: EvalData, model: InterestEvolutionModel, model_tag: str) -> pa.Table:
    """Catalogue rows with the model's item vectors, in the items-table layout."""
    item_vectors = model.item_vectors()  # (N, D), rows in item-index order
    columns = data.item_index.encode(np.asarray(catalogue["item_id"].to_pylist(), dtype=str))
    dim = item_vectors.shape[1]
    flat = pa.array(item_vectors[columns].ravel(), pa.float32())
    table = catalogue.drop_columns(["vector", "encoder_version"])
    table = table.append_column("encoder_version", pa.array([model_tag] * table.num_rows, pa.string()))
    return table.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, dim))


def epoch_logger(fail_after_epochs: int | None, max_epochs: int) -> Callable[[str], None]:
    """The training loop's progress callback (it gets one "epoch ..." line per epoch): an epoch
    progress bar on a terminal, plain log lines otherwise (a file, `ray job submit`).

    With `train.fail_after_epochs` set it raises once that many epochs are
    done: fault injection, like `embed.fail_after_rows`, to show that a run
    failing half way changes nothing live.
    """
    epochs = 0
    bar = tqdm(total=max_epochs, desc="training", unit="epoch") if sys.stderr.isatty() else None

    def on_progress(message: str) -> None:
        nonlocal epochs
        is_epoch = message.startswith("epoch ")
        epochs += is_epoch
        if bar is None:
            log.info(message)
        elif is_epoch:
            bar.update(1)
            bar.set_postfix_str(message.split(None, 2)[2])  # loss and validation NDCG@10
        else:  # the end of the loop, the refit: the bar is done
            bar.close()
            log.info(message)
        if fail_after_epochs is not None and epochs >= fail_after_epochs:
            raise RuntimeError(f"injected failure after {epochs} epochs (train.fail_after_epochs)")

    return on_progress


def test_metrics(model: InterestEvolutionModel, data: EvalData, interest: InterestConfig) -> dict[str, float]:
    """Test figures of the model as the service ranks with it (the ranking pipeline)."""
    score_fn = interest_model_scores(model, data, data.split, True, interest)
    return summarize(rank_users(score_fn, data.split, data.item_index, "test"))


def train_interest(config: RecConfig, promote: bool = True) -> dict:
    """Run the whole job; returns the summary that main() prints. Without `promote` it stops
    after step 3: the version is the challenger, and the caller gates it (jobs/nightly.py)."""
    started = time.perf_counter()
    live = registry.resolve_encoder(config.encoder, config.paths)
    data, catalogue = load_training_data(config, live)
    model_config = config.train.model
    with registry.job_run("train_interest", config.train.experiment, config.paths) as run:
        mlflow.log_params({**{f"model.{k}": v for k, v in model_config.model_dump().items()},
                           "encoder": live.tag, "events": config.train.events_path})
        model, history = fit_on_split(
            data.split, data.item_index, data.item_vectors, model_config, epoch_logger(config.train.fail_after_epochs, model_config.max_epochs))
        for epoch in history:
            mlflow.log_metric("valid_NDCG_at_10", epoch["valid_ndcg10"], step=epoch["epoch"])
        train_seconds = time.perf_counter() - started
        valid_ndcg = max(epoch["valid_ndcg10"] for epoch in history)
        metrics = test_metrics(model, data, config.interest)
        mlflow.log_metrics({"train_seconds": train_seconds, "best_valid_NDCG_at_10": valid_ndcg,
                            **{f"test_{k.replace('@', '_at_')}": v for k, v in metrics.items()}})
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_model(model, Path(tmp) / "interest_model")
            interest_registry.write_item_ids(folder, data.item_index.ids.tolist())
            version = interest_registry.register_interest_model(
                folder, config.train.registered_name, live.tag, valid_ndcg, metrics, config.paths,
                config.train.challenger_alias)
        model_tag = f"{config.train.registered_name}/{version}"
        table = write_version(
            config.paths.lancedb_uri, config.train.scoring_table, scoring_rows(catalogue, data, model, model_tag))
        plan = index_if_large(table, config.embed.index_min_rows)  # as the items table
        interest_registry.publish_scoring_table(
            config.train.registered_name, version, config.train.scoring_table, int(table.version), config.paths)
        promoted, reason = False, "not gated here"
        if promote:
            promoted, reason = interest_registry.promote_if_better(
                config.train.registered_name, version, config.paths, config.train.champion_alias)
            log.info("gate: %s", reason)
        mlflow.set_tags({"gate": reason, "promoted": str(promoted), "model_version": model_tag})
    return {
        "job": "train_interest", "model_version": model_tag, "promoted": promoted, "gate": reason,
        "epochs": len(history), "train_seconds": round(train_seconds, 1), "valid_NDCG@10": round(valid_ndcg, 4),
        "test": {k: round(v, 4) for k, v in metrics.items()}, "scoring_table_version": int(table.version),
        "scoring_index": plan.why if plan else "none: scanned exactly", "mlflow_run_id": run.info.run_id,
    }


def main() -> None:
    run_config_job(__doc__, "configs/train_interest.yaml", train_interest)


if __name__ == "__main__":
    main()
