"""The durable event log: append-only JSON lines (rec/storage/jsonl.py), fsynced
before an ack.

One file per writer (a user shard), so writers never contend for a file; a
writer cuts a torn last line off when it opens the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rec.storage.jsonl import UserRecordFile, read_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedEvent:
    """One event as stored: what the client sent plus when it was logged."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    timestamp: float
    logged_at: float
    request_id: str | None = None  # the answer it followed (an A/B impression), when the client says


def shard_log_path(log_dir: str | Path, shard: int) -> Path:
    """The log file written by one user shard."""
    return Path(log_dir) / f"events-shard-{shard:04d}.jsonl"


class EventLogWriter:
    """Appends batches of events to one log file, durably."""

    def __init__(self, path: str | Path) -> None:
        self.file = UserRecordFile(path)
        self.path = self.file.path

    def append(self, events: Sequence[LoggedEvent]) -> None:
        """Write `events` and fsync; when this returns they survive a crash."""
        self.file.append([_record(e) for e in events])

    def remove_user(self, user_id: str) -> int:
        """Rewrite the file without `user_id`'s events; returns how many were removed."""
        return self.file.remove_user(user_id)

    def close(self) -> None:
        self.file.close()


def _record(event: LoggedEvent) -> dict:
    record = asdict(event)
    if record["request_id"] is None:  # most events follow no answer: keep their lines as they were
        del record["request_id"]
    return record


def read_log(path: str | Path, offset: int = 0) -> Iterator[LoggedEvent]:
    """Events of one log file in write order, from byte `offset`; a torn last line is skipped."""
    return (LoggedEvent(**record) for record in read_records(Path(path), offset))


def read_all_logs(log_dir: str | Path) -> list[LoggedEvent]:
    """Every logged event of every shard, ordered by the time it was logged."""
    events = [e for path in sorted(Path(log_dir).glob("events-shard-*.jsonl")) for e in read_log(path)]
    events.sort(key=lambda e: e.logged_at)  # stable: one file's order is kept on ties
    return events
