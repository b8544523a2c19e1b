"""MLflow access: the tracking store, the encoder in the model registry, and
the live pointer (the encoder alias plus the items table version it names).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from rec.config import EncoderConfig, PathsConfig
from rec.errors import NotReadyError

log = logging.getLogger(__name__)

ITEMS_TABLE_TAG = "items_table"
ITEMS_VERSION_TAG = "items_table_version"
SOURCE_TAG = "source_dir"  # the weights folder a version was registered from
# Written by hand: inferring requirements costs ~9 s per log_model.
_ENCODER_REQUIREMENTS = ["torch==2.13.0", "transformers==5.23.0", "numpy", "pandas"]


@dataclass(frozen=True)
class EncoderVersion:
    """One registered encoder version and where its weights are locally."""

    name: str
    version: str
    model_dir: str
    items_table: str | None = None
    items_table_version: int | None = None

    @property
    def tag(self) -> str:
        """How vectors record the encoder that made them, e.g. 'text-encoder/3'."""
        return f"{self.name}/{self.version}"


class EncoderPyfunc(mlflow.pyfunc.PythonModel):
    """The encoder as an MLflow pyfunc: text in, pooled unit vectors out.

    (MLflow's transformers flavour returns token-level vectors, not sentence
    embeddings, hence this small wrapper around rec.encoding.encoder.)
    """

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config  # pickled with the model: how it was registered to run

    def load_context(self, context) -> None:
        from rec.encoding.encoder import TextEncoder

        self.encoder = TextEncoder(context.artifacts["model_dir"], self.config)

    def predict(self, context, model_input: list[str], params=None):
        return self.encoder.encode(list(model_input))


def connect(paths: PathsConfig) -> MlflowClient:
    """Point mlflow at the configured store; returns a client for it."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(paths.mlflow_tracking_uri)
    mlflow.set_registry_uri(paths.mlflow_tracking_uri)
    return MlflowClient(paths.mlflow_tracking_uri, paths.mlflow_tracking_uri)


def use_experiment(name: str, paths: PathsConfig) -> str:
    """Create (once) and select an experiment whose artifacts live under paths."""
    client = connect(paths)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = paths.mlflow_artifacts_uri  # None: the tracking server's own artifact store
        if location is not None and "://" not in location:
            location = Path(location).resolve().as_uri()
        experiment_id = client.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextmanager
def job_run(name: str, experiment: str, paths: PathsConfig) -> Iterator[mlflow.ActiveRun]:
    """A job's MLflow run: in `experiment`, or nested in the active run when a pipeline
    (jobs/nightly.py) runs the job as one of its steps."""
    if mlflow.active_run() is not None:
        with mlflow.start_run(run_name=name, nested=True) as run:
            yield run
        return
    use_experiment(experiment, paths)
    with mlflow.start_run(run_name=name) as run:
        yield run


def register_encoder(source_dir: str | Path, config: EncoderConfig, paths: PathsConfig, alias: str | None) -> str:
    """Log a Hugging Face encoder folder as a new registered version; returns it."""
    with job_run(f"register-{config.registered_name}", "encoders", paths):
        mlflow.log_params({"source_dir": str(source_dir), "max_length": config.max_length})
        info = mlflow.pyfunc.log_model(
            name="encoder",
            python_model=EncoderPyfunc(config),
            artifacts={"model_dir": str(source_dir)},
            pip_requirements=_ENCODER_REQUIREMENTS,
            registered_model_name=config.registered_name,
            input_example=["a space adventure with robots"],  # the signature is predict's type hints
        )
    version = str(info.registered_model_version)
    client = connect(paths)
    client.set_model_version_tag(config.registered_name, version, SOURCE_TAG, _source_key(source_dir))
    if alias:
        client.set_registered_model_alias(config.registered_name, alias, version)
    log.info("registered %s version %s (alias %s)", config.registered_name, version, alias)
    return version


def ensure_encoder(config: EncoderConfig, paths: PathsConfig) -> EncoderVersion:
    """The encoder version to embed the catalogue with.

    - No version under `config.alias` yet: the weights of `config.source_dir`
      (default: the shipped MiniLM) are registered and get the alias (nothing
      is live before the first items table anyway).
    - `config.source_dir` unset, or the weights the alias' version came from:
      that version.
    - Other weights: the version registered from them, registered now if none
      is, and *without* the alias: `publish_items_version` moves the alias to
      it once its items table is written, so until then serve keeps the old
      encoder and a failed run changes nothing live.
    """
    from rec.encoding.encoder import default_model_dir

    client = connect(paths)
    source = _source_key(config.source_dir or default_model_dir())
    try:
        current = client.get_model_version_by_alias(config.registered_name, config.alias)
    except MlflowException:
        register_encoder(source, config, paths, alias=config.alias)
        return resolve_encoder(config, paths)
    if config.source_dir is None or _source_of(client, current) == source:
        return resolve_encoder(config, paths)
    known = [v for v in client.search_model_versions(f"name='{config.registered_name}'") if _source_of(client, v) == source]
    if known:
        version = str(max(int(v.version) for v in known))
    else:
        version = register_encoder(source, config, paths, alias=None)
    log.info("embedding with %s version %s from %s (the alias moves once its table is written)",
             config.registered_name, version, source)
    return _encoder_version(config.registered_name, client.get_model_version(config.registered_name, version), paths)


def _source_key(source_dir: str | Path) -> str:
    """How a weights folder is recorded and compared: its absolute path."""
    return str(source_dir) if "://" in str(source_dir) else str(Path(source_dir).expanduser().resolve())


def _source_of(client: MlflowClient, found) -> str | None:
    """The weights folder a registered version came from (tag, else its run's parameter)."""
    source = found.tags.get(SOURCE_TAG)
    if source is None and found.run_id:
        source = client.get_run(found.run_id).data.params.get("source_dir")
    return _source_key(source) if source else None


def resolve_encoder(config: EncoderConfig, paths: PathsConfig, alias: str | None = None) -> EncoderVersion:
    """Resolve `name@alias` to a version, its local weights and its items table."""
    client = connect(paths)
    alias = alias or config.alias
    try:
        found = client.get_model_version_by_alias(config.registered_name, alias)
    except MlflowException:
        raise NotReadyError(
            f"no model {config.registered_name}@{alias} in {paths.mlflow_tracking_uri}: "
            "run the embed job first (python -m jobs.embed_catalog --config configs/embed_catalog.yaml)"
        ) from None
    return _encoder_version(config.registered_name, found, paths)


def _encoder_version(name: str, found, paths: PathsConfig) -> EncoderVersion:
    """An MLflow model version as an EncoderVersion (its weights downloaded once)."""
    table_version = found.tags.get(ITEMS_VERSION_TAG)
    return EncoderVersion(
        name=name,
        version=str(found.version),
        model_dir=str(local_artifacts(name, str(found.version), paths)),
        items_table=found.tags.get(ITEMS_TABLE_TAG),
        items_table_version=int(table_version) if table_version else None,
    )


def local_artifacts(name: str, version: str, paths: PathsConfig) -> Path:
    """Download the model folder (the `model_dir` artifact, found by its config.json)
    of a version once into <home>/model-cache/NAME/VERSION.

    The folder appears by one rename, so a reader never sees half a download.
    """
    target = Path(paths.home) / "model-cache" / name / version
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}-"))
    try:
        model = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(staging)))
        configs = (model / "artifacts").rglob("config.json")
        weights = min((p.parent for p in configs), key=lambda p: len(p.parts))
        try:
            weights.rename(target)
        except OSError:
            if not target.is_dir():  # lost a race to another process: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def publish_items_version(
    encoder: EncoderVersion, table: str, table_version: int, paths: PathsConfig, alias: str | None = None,
) -> None:
    """Flip the live pointer: the encoder version now names this table version,
    and (given `alias`) the alias names this encoder version.

    Serve reads the pointer through the alias, so the last write here is what
    makes a new catalogue embedding live: the tag write for the version under
    the alias, or, for a new encoder, the alias move, made only after its
    version names its table.
    """
    client = connect(paths)
    client.set_model_version_tag(encoder.name, encoder.version, ITEMS_TABLE_TAG, table)
    client.set_model_version_tag(encoder.name, encoder.version, ITEMS_VERSION_TAG, str(table_version))
    if alias:
        client.set_registered_model_alias(encoder.name, alias, encoder.version)
