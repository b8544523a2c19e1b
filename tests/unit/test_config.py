"""Tests for rec.config: defaults, inherit/override, errors that name the key, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from rec.config import EVENT_TYPES, InterestConfig, PathsConfig, load_config
from rec.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"
_ENV_VARS = ("REC_HOME", "REC_LANCEDB_URI", "REC_MLFLOW_TRACKING_URI", "REC_EVENT_LOG_DIR", "REC_SNAPSHOT_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No REC_* variable of the caller's shell leaks into these tests."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _child(path: Path, text: str) -> Path:
    """A config that inherits the project's base.yaml and adds `text`."""
    return _write(path, f"inherit: {CONFIGS / 'base.yaml'}\n{text}")


def test_base_yaml_loads_and_validates():
    config = load_config(CONFIGS / "base.yaml")
    assert config.encoder.registered_name == "text-encoder"
    assert config.encoder.alias == "champion"
    assert set(config.interest.event_weights) == set(EVENT_TYPES)
    assert config.interest.event_weights["dislike"] < 0 < config.interest.event_weights["like"]
    assert config.catalog.text_template == ["{title}", " ({year})", ". Genres: {categories}", "."]
    assert config.serve.user_shards >= 1
    assert config.history_length == config.train.model.max_len  # derived, not restated


def test_every_value_must_be_given(tmp_path):
    """No code default stands in for a value base.yaml must hold: a missing key names itself."""
    with pytest.raises(ConfigError, match=r"serve\.max_k: Field required"):
        load_config(_write(tmp_path / "partial.yaml", "serve:\n  default_k: 3\n"))


def test_a_moved_key_names_the_new_one(tmp_path):
    with pytest.raises(ConfigError, match=r"serve\.history_length: moved to train\.model\.max_len"):
        load_config(_child(tmp_path / "old.yaml", "serve:\n  history_length: 50\n"))


def test_model_config_is_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.model\.colour"):
        load_config(_child(tmp_path / "bad.yaml", "train:\n  model:\n    colour: red\n"))
    with pytest.raises(ConfigError, match="divisible by heads"):
        load_config(_child(tmp_path / "bad.yaml", "train:\n  model:\n    d: 10\n    heads: 3\n"))


def test_load_base_yaml_resolves_locations(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # paths.home "var" resolves against the working directory
    tmp_path = tmp_path.resolve()
    config = load_config(CONFIGS / "base.yaml")
    assert config.paths.home == str(tmp_path / "var")
    assert config.paths.lancedb_uri == str(tmp_path / "var" / "lancedb")
    assert config.paths.event_log_dir == str(tmp_path / "var" / "events")
    assert config.paths.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'var' / 'mlflow.db'}"


def test_embed_catalog_yaml_inherits_base(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    base = load_config(CONFIGS / "base.yaml")
    child = load_config(CONFIGS / "embed_catalog.yaml")
    assert child.encoder == base.encoder  # inherited untouched
    assert child.embed.table == base.embed.table == "items"
    assert child.embed.actors == 2
    assert child.embed.batch_size == 1024 and base.embed.batch_size == 256


def test_override_applies_and_merges_deeply(tmp_path):
    _child(tmp_path / "base.yaml", "embed:\n  actors: 2\n  batch_size: 256\nserve:\n  default_k: 10\n")
    child = _write(tmp_path / "child.yaml", "inherit: base.yaml\nembed:\n  actors: 7\n")
    config = load_config(child)
    assert config.embed.actors == 7  # overridden
    assert config.embed.batch_size == 256  # sibling key kept by the deep merge
    assert config.serve.default_k == 10


def test_inherit_chain_of_three(tmp_path):
    _child(tmp_path / "a.yaml", "serve:\n  default_k: 5\n  max_k: 50\n")
    _write(tmp_path / "b.yaml", "inherit: a.yaml\nserve:\n  max_k: 60\n")
    c = _write(tmp_path / "c.yaml", "inherit: b.yaml\nserve:\n  default_k: 6\n")
    config = load_config(c)
    assert (config.serve.default_k, config.serve.max_k) == (6, 60)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("embed:\n  actorz: 3\n", r"embed\.actorz"),  # unknown key
        ("servee:\n  default_k: 3\n", "servee"),  # unknown section
        ("serve:\n  default_k: lots\n", r"serve\.default_k"),  # wrong type
    ],
)
def test_bad_key_or_type_is_named_in_the_error(tmp_path, text, named):
    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=named):
        load_config(path)


def test_out_of_range_value_names_the_field(tmp_path):
    path = _write(tmp_path / "bad.yaml", "encoder:\n  device: tpu\n")
    with pytest.raises(ConfigError, match=r"encoder\.device"):
        load_config(path)


def test_event_weights_missing_a_type_names_it(tmp_path):
    weights = {t: 1.0 for t in EVENT_TYPES if t != "skip"}
    body = "interest:\n  event_weights: {" + ", ".join(f"{k}: {v}" for k, v in weights.items()) + "}\n"
    path = _write(tmp_path / "bad.yaml", body)
    with pytest.raises(ConfigError, match=r"interest\.event_weights") as info:
        load_config(path)
    assert "skip" in str(info.value)


def test_event_weights_unknown_type_is_rejected():
    weights = {t: 1.0 for t in EVENT_TYPES} | {"share": 1.0}
    with pytest.raises(ValueError, match="share"):
        InterestConfig(**{**load_config(CONFIGS / "base.yaml").interest.model_dump(), "event_weights": weights})


def test_config_error_is_a_value_error(tmp_path):
    path = _write(tmp_path / "bad.yaml", "embed:\n  actorz: 3\n")
    with pytest.raises(ValueError):
        load_config(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    path = _write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_a_child_with_nothing_of_its_own_is_its_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(_child(tmp_path / "empty.yaml", "")) == load_config(CONFIGS / "base.yaml")


def test_env_overrides_home_and_lancedb(monkeypatch, tmp_path):
    home = tmp_path / "home"
    db = tmp_path / "elsewhere" / "db"
    monkeypatch.setenv("REC_HOME", str(home))
    monkeypatch.setenv("REC_LANCEDB_URI", str(db))
    config = load_config(CONFIGS / "base.yaml")
    assert config.paths.home == str(home.resolve())
    assert config.paths.lancedb_uri == str(db.resolve())
    assert config.paths.event_log_dir == str(home.resolve() / "events")
    assert config.paths.data_dir == str(home.resolve() / "data")
    assert config.paths.mlflow_tracking_uri == f"sqlite:///{home.resolve() / 'mlflow.db'}"


def test_env_remote_uris_are_kept_verbatim(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_HOME", str(tmp_path))
    monkeypatch.setenv("REC_LANCEDB_URI", "s3://bucket/lancedb")
    monkeypatch.setenv("REC_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("REC_EVENT_LOG_DIR", str(tmp_path / "log"))
    paths = PathsConfig(home="var").resolved()
    assert paths.lancedb_uri == "s3://bucket/lancedb"
    assert paths.mlflow_tracking_uri == "http://mlflow:5000"
    assert paths.event_log_dir == str((tmp_path / "log").resolve())


def test_placeholders_are_filled_and_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    tmp_path = tmp_path.resolve()
    path = _child(
        tmp_path / "c.yaml",
        "paths:\n  home: h\n  data_dir: d\n"
        "catalog:\n  path: '{data_dir}/cat/items.csv'\n"
        "embed:\n  popularity_events: '{home}/ev.parquet'\n",
    )
    config = load_config(path)
    assert config.paths.data_dir == str(tmp_path / "d")
    assert config.catalog.path == str(tmp_path / "d" / "cat" / "items.csv")
    assert Path(config.catalog.path).is_absolute()
    assert config.embed.popularity_events == str(tmp_path / "h" / "ev.parquet")


def test_default_catalog_path_under_rec_home(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_HOME", str(tmp_path))
    config = load_config(CONFIGS / "base.yaml")
    assert config.catalog.path == str(tmp_path.resolve() / "data" / "movielens" / "items.parquet")
    assert "{" not in config.embed.popularity_events


def test_null_popularity_events_stays_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _child(tmp_path / "c.yaml", "embed:\n  popularity_events: null\n")
    assert load_config(path).embed.popularity_events is None


def test_resolved_is_idempotent(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_HOME", str(tmp_path))
    once = load_config(CONFIGS / "base.yaml")
    assert once.resolved() == once


def test_inherit_cycle_is_an_error(tmp_path):
    _write(tmp_path / "a.yaml", "inherit: b.yaml\n")
    b = _write(tmp_path / "b.yaml", "inherit: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(b)


def test_self_inherit_is_an_error(tmp_path):
    path = _write(tmp_path / "self.yaml", "inherit: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(path)


def test_missing_parent_is_an_error(tmp_path):
    path = _write(tmp_path / "child.yaml", "inherit: gone.yaml\n")
    with pytest.raises(ConfigError, match="gone.yaml"):
        load_config(path)


def test_configs_are_frozen():
    config = load_config(CONFIGS / "base.yaml")
    with pytest.raises(Exception):
        config.serve.default_k = 3  # type: ignore[misc]


def test_unit_tests_cannot_start_ray():
    import ray

    with pytest.raises(RuntimeError, match="tests/integration"):
        ray.init()


def test_rec_never_imports_ray():
    """rec/ is the pure layer: no module of it names ray, serve or fastapi."""
    offenders = [
        str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "rec").rglob("*.py")
        if any(line.startswith(("import ray", "from ray", "from fastapi", "import fastapi"))
               for line in path.read_text().splitlines())
    ]
    assert offenders == []


def test_test_modules_have_distinct_basenames():
    """The test folders have no __init__.py, so pytest imports each module by its basename:
    two files of one name stop the whole collection."""
    names = [path.name for path in (REPO_ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


@pytest.mark.parametrize("filterable, named", [
    ("{Runtime: int}", "Runtime"), ("{title: string}", "title"), ("{vector: float}", "vector"),
    ("{runtime: date}", "runtime"),
])
def test_a_filterable_column_must_be_a_new_lower_case_name_of_a_known_kind(tmp_path, filterable, named):
    path = _child(tmp_path / "bad.yaml", f"catalog:\n  filterable: {filterable}\n")
    with pytest.raises(ConfigError, match=rf"catalog\.filterable[\s\S]*{named}"):
        load_config(path)


def test_filterable_attributes_always_include_year(tmp_path):
    assert load_config(CONFIGS / "base.yaml").catalog.attributes() == {"year": "int"}
    path = _child(tmp_path / "ok.yaml", "catalog:\n  filterable: {runtime: int, language: string}\n")
    assert load_config(path).catalog.attributes() == {"year": "int", "runtime": "int", "language": "string"}


def test_a_tracking_server_keeps_the_artifacts_unless_a_store_is_named(monkeypatch, tmp_path):
    local = PathsConfig(home=str(tmp_path)).resolved()
    assert local.mlflow_artifacts_uri == str(tmp_path / "mlartifacts")
    assert local.snapshot_dir == str(tmp_path / "snapshots")
    monkeypatch.setenv("REC_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    shared = PathsConfig(home=str(tmp_path)).resolved()
    assert shared.mlflow_tracking_uri == "http://127.0.0.1:5000" and shared.mlflow_artifacts_uri is None
    named = PathsConfig(home=str(tmp_path), mlflow_artifacts_uri="s3://bucket/mlflow").resolved()
    assert named.mlflow_artifacts_uri == "s3://bucket/mlflow"


def test_an_event_log_on_jetstream_is_kept_and_a_bad_stream_fails_at_load(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_HOME", str(tmp_path))
    monkeypatch.setenv("REC_EVENT_LOG_DIR", "nats://127.0.0.1:4222/REC")
    assert PathsConfig(home="var").resolved().event_log_dir == "nats://127.0.0.1:4222/REC"
    monkeypatch.setenv("REC_EVENT_LOG_DIR", "nats://127.0.0.1:4222/rec.events")
    with pytest.raises(ConfigError, match=r"paths.event_log_dir .*nats://host:port/STREAM"):
        load_config(CONFIGS / "base.yaml")


def test_new_and_hidden_items_on_jetstream_have_no_retention(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_HOME", str(tmp_path))
    monkeypatch.setenv("REC_EVENT_LOG_DIR", "nats://127.0.0.1:4222/REC")
    monkeypatch.setenv("REC_NEW_ITEMS_DIR", "nats://127.0.0.1:4222/REC")
    assert PathsConfig(home="var").resolved().new_items_dir == "nats://127.0.0.1:4222/REC"
    monkeypatch.setenv("REC_NEW_ITEMS_DIR", "nats://127.0.0.1:4222/REC?max_age_days=30")
    with pytest.raises(ConfigError, match=r"paths.new_items_dir .*kept for good"):
        PathsConfig(home="var").resolved()
    monkeypatch.setenv("REC_EVENT_LOG_DIR", "nats://127.0.0.1:4222/REC?max_age_days=30")
    monkeypatch.setenv("REC_NEW_ITEMS_DIR", "nats://127.0.0.1:4222/REC")
    with pytest.raises(ConfigError, match=r"stream REC has the event log's retention.*REC_ITEMS"):
        PathsConfig(home="var").resolved()
    monkeypatch.setenv("REC_NEW_ITEMS_DIR", "nats://127.0.0.1:4222/REC_ITEMS")
    assert PathsConfig(home="var").resolved().new_items_dir == "nats://127.0.0.1:4222/REC_ITEMS"
