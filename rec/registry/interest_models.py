"""The interest-evolution model in the MLflow registry: register, gate, resolve.

A version carries, as tags, the encoder version its item vectors derive from,
its validation NDCG@10 (what the gate compares) and the LanceDB scoring table
version holding its item vectors. Moving the `champion` alias is the one
atomic step that makes a version live.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from rec.config import PathsConfig
from rec.registry.encoders import connect, local_artifacts

log = logging.getLogger(__name__)

ENCODER_TAG = "encoder_version"
VALID_NDCG_TAG = "valid_ndcg10"
TEST_HR_TAG = "test_hr10"
TEST_NDCG_TAG = "test_ndcg10"
SCORING_TABLE_TAG = "scoring_table"
SCORING_VERSION_TAG = "scoring_table_version"
_REQUIREMENTS = ["torch==2.13.0", "numpy"]
# Saved next to the model: the item id of each row of its item vectors.
ITEM_IDS_FILE = "item_ids.json"


@dataclass(frozen=True)
class InterestModelVersion:
    """One registered interest model version, its local files and its scoring table."""

    name: str
    version: str
    model_dir: str
    encoder_version: str
    valid_ndcg10: float
    scoring_table: str | None
    scoring_table_version: int | None

    @property
    def tag(self) -> str:
        return f"{self.name}/{self.version}"


class InterestModelPyfunc(mlflow.pyfunc.PythonModel):
    """Histories of item indices in, query vectors out (models:/interest-model@champion)."""

    def load_context(self, context) -> None:
        from rec.interest.model import load_model

        self.model = load_model(context.artifacts["model_dir"])

    def predict(self, context, model_input: list[list[int]], params=None):
        return self.model.user_vectors([list(h) for h in model_input])


def register_interest_model(
    model_dir: str | Path, name: str, encoder_version: str, valid_ndcg10: float,
    test_metrics: dict[str, float], paths: PathsConfig, alias: str,
) -> str:
    """Log a saved model folder as a new version under `alias` (train.challenger_alias); returns the version."""
    info = mlflow.pyfunc.log_model(
        name="interest_model", python_model=InterestModelPyfunc(),
        artifacts={"model_dir": str(model_dir)}, pip_requirements=_REQUIREMENTS,
        registered_model_name=name,
        input_example=[[0, 1, 2]],  # one history of item indices; the signature is predict's type hints
    )
    version = str(info.registered_model_version)
    client = connect(paths)
    client.set_model_version_tag(name, version, ENCODER_TAG, encoder_version)
    client.set_model_version_tag(name, version, VALID_NDCG_TAG, f"{valid_ndcg10:.6f}")
    # The offline figures the replay job checks the live path against.
    client.set_model_version_tag(name, version, TEST_HR_TAG, f"{test_metrics['HR@10']:.6f}")
    client.set_model_version_tag(name, version, TEST_NDCG_TAG, f"{test_metrics['NDCG@10']:.6f}")
    client.set_registered_model_alias(name, alias, version)
    return version


def write_item_ids(model_dir: str | Path, item_ids: list[str]) -> None:
    (Path(model_dir) / ITEM_IDS_FILE).write_text(json.dumps(item_ids))


def read_item_ids(model_dir: str | Path) -> list[str]:
    """The item id of each row of the model's item vectors."""
    return json.loads((Path(model_dir) / ITEM_IDS_FILE).read_text())


def publish_scoring_table(name: str, version: str, table: str, table_version: int, paths: PathsConfig) -> None:
    """Record which LanceDB table version holds this model version's item vectors."""
    client = connect(paths)
    client.set_model_version_tag(name, version, SCORING_TABLE_TAG, table)
    client.set_model_version_tag(name, version, SCORING_VERSION_TAG, str(table_version))


def resolve_interest_model(name: str, alias: str, paths: PathsConfig) -> InterestModelVersion | None:
    """`name@alias`, downloaded once; None when no such version exists."""
    try:
        found = connect(paths).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    tags = found.tags
    table_version = tags.get(SCORING_VERSION_TAG)
    return InterestModelVersion(
        name=name, version=str(found.version),
        model_dir=str(local_artifacts(name, str(found.version), paths)),
        encoder_version=tags.get(ENCODER_TAG, ""),
        valid_ndcg10=float(tags.get(VALID_NDCG_TAG, "nan")),
        scoring_table=tags.get(SCORING_TABLE_TAG),
        scoring_table_version=int(table_version) if table_version else None,
    )


def alias_version(name: str, alias: str, paths: PathsConfig) -> str | None:
    """The version number `name@alias` names; None when the alias is not set."""
    try:
        return str(connect(paths).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def gate(name: str, version: str, paths: PathsConfig, champion_alias: str) -> tuple[bool, str]:
    """Whether `version` should take `champion_alias`: only if its validation NDCG@10 beats the
    champion's. Returns (promote, reason); the reason is what the job logs."""
    client = connect(paths)
    candidate = float(client.get_model_version(name, version).tags[VALID_NDCG_TAG])
    try:
        champion = client.get_model_version_by_alias(name, champion_alias)
    except MlflowException:
        return True, f"v{version} is the first champion (valid NDCG@10 {candidate:.4f})"
    current = float(champion.tags.get(VALID_NDCG_TAG, "-inf"))
    if candidate <= current:
        return False, f"kept champion v{champion.version}: valid NDCG@10 {candidate:.4f} <= {current:.4f}"
    return True, f"v{version} beats champion v{champion.version}: valid NDCG@10 {candidate:.4f} > {current:.4f}"


def promote(name: str, version: str | None, paths: PathsConfig, alias: str) -> None:
    """Point `alias` at `version` (None: remove the alias, as before a first champion)."""
    client = connect(paths)
    if version is None:
        client.delete_registered_model_alias(name, alias)
    else:
        client.set_registered_model_alias(name, alias, version)


def promote_if_better(name: str, version: str, paths: PathsConfig, champion_alias: str) -> tuple[bool, str]:
    """The gate, and the promotion when it passes: (promoted, reason)."""
    promoted, reason = gate(name, version, paths, champion_alias)
    if promoted:
        promote(name, version, paths, champion_alias)
    return promoted, reason
