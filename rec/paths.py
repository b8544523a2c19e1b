"""Where state lives (the `paths` section of the config), resolved at load time: environment
overrides applied, unset locations filled under `home`, local ones made absolute."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from rec.errors import ConfigError
from rec.storage.record_log import is_stream, stream_location


class PathsConfig(BaseModel):
    """Where state lives. Relative paths are made absolute at load time; unset ones go under `home`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: str
    lancedb_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifacts_uri: str | None = None
    event_log_dir: str | None = None
    new_items_dir: str | None = None  # the logs of new and hidden items, shared by every ingress replica
    impressions_dir: str | None = None  # the answers shown, one file per ingress replica
    snapshot_dir: str | None = None  # the user shards' snapshots of their users' states
    data_dir: str | None = None

    def resolved(self) -> PathsConfig:
        """Fill unset locations under `home`, applying environment overrides."""
        home = Path(os.environ.get("REC_HOME", self.home)).expanduser().resolve()
        lancedb = os.environ.get("REC_LANCEDB_URI", self.lancedb_uri) or str(home / "lancedb")
        tracking = os.environ.get("REC_MLFLOW_TRACKING_URI", self.mlflow_tracking_uri)
        events = os.environ.get("REC_EVENT_LOG_DIR", self.event_log_dir) or str(home / "events")
        new_items = os.environ.get("REC_NEW_ITEMS_DIR", self.new_items_dir) or str(home / "items")
        impressions = os.environ.get("REC_IMPRESSIONS_DIR", self.impressions_dir) or str(home / "impressions")
        snapshots = os.environ.get("REC_SNAPSHOT_DIR", self.snapshot_dir) or str(home / "snapshots")
        return PathsConfig(
            home=str(home),
            lancedb_uri=_absolute_if_local(lancedb),
            mlflow_tracking_uri=tracking or f"sqlite:///{home / 'mlflow.db'}",
            mlflow_artifacts_uri=_artifacts_uri(self.mlflow_artifacts_uri, tracking, home),
            event_log_dir=_event_log(events),
            new_items_dir=_shared_logs(new_items, events),
            impressions_dir=_absolute_if_local(impressions),
            snapshot_dir=_absolute_if_local(snapshots),
            data_dir=_absolute_if_local(self.data_dir or str(home / "data")),
        )


def _artifacts_uri(configured: str | None, tracking: str | None, home: Path) -> str | None:
    """Where runs' artifacts go: as configured; else, with a tracking server, wherever the server
    keeps them (None: its `--artifacts-destination`, proxied); else a folder under `home`."""
    if configured:
        return _absolute_if_local(configured)
    if tracking and tracking.startswith(("http://", "https://")):
        return None
    return str(home / "mlartifacts")


def _event_log(location: str) -> str:
    """A folder (made absolute) or a JetStream stream, checked here so a bad one fails at load."""
    if is_stream(location):
        try:
            stream_location(location)
        except ValueError as error:
            raise ConfigError(f"paths.event_log_dir (or REC_EVENT_LOG_DIR): {error}") from None
        return location
    return _absolute_if_local(location)


def _shared_logs(location: str, event_log: str) -> str:
    """The new and hidden items' logs: a folder (made absolute) or a JetStream stream with no
    retention (they are kept for good), checked here so a bad one fails at load."""
    if not is_stream(location):
        return _absolute_if_local(location)
    key = "paths.new_items_dir (or REC_NEW_ITEMS_DIR)"
    try:
        server, stream, max_age = stream_location(location)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    if max_age is not None:
        raise ConfigError(f"{key}: new and hidden items are kept for good; max_age_days is for the event log only")
    events_server, events_stream, events_max_age = stream_location(event_log) if is_stream(event_log) else ("", "", None)
    if (events_server, events_stream) == (server, stream) and events_max_age:
        raise ConfigError(f"{key}: stream {stream} has the event log's retention (max_age_days), which would drop "
                          f"new and hidden items too; give them a stream of their own, as {server}/{stream}_ITEMS")
    return location


def _absolute_if_local(uri: str) -> str:
    return uri if "://" in uri else str(Path(uri).expanduser().resolve())
