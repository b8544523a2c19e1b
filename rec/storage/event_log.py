"""The durable event log: one record log per writer (a user shard), so writers never
contend (rec/storage/record_log.py: JSON-lines files by default, or JetStream).
An append is durable before an ack.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rec.storage.jsonl import read_records
from rec.storage.record_log import (
    JsonlRecordLog, LogPosition, RecordLog, open_record_log, read_all_records, record_file_path,
)

log = logging.getLogger(__name__)

KIND = "events"


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
    """The log file written by one user shard (the JSON-lines backend)."""
    return record_file_path(log_dir, KIND, shard)


class EventLogWriter:
    """Appends batches of one shard's events to its log, durably."""

    def __init__(self, log: str | Path, shard: int | None = None) -> None:
        """`log`: the log's location (a folder or a nats:// URI) with `shard`, or one file's path."""
        self.log: RecordLog = open_record_log(log, KIND, shard) if shard is not None else JsonlRecordLog(log)
        self.path = getattr(self.log, "path", None)  # None on JetStream
        self._scope = _new_scope()

    def append(self, events: Sequence[LoggedEvent]) -> None:
        """Write `events` durably; when this returns they survive a crash."""
        ids = [_message_id(self._scope, e) for e in events] if self.log.refuses_resent_ids else None
        self.log.append([_record(e) for e in events], ids)

    def read(self, after: LogPosition | None = None) -> Iterator[LoggedEvent]:
        """This log's events in write order, after `after` (None: all)."""
        return (LoggedEvent(**record) for record in self.log.records(after))

    def remove_user(self, user_id: str) -> int:
        """Remove `user_id`'s events; returns how many were removed."""
        removed = self.log.remove_user(user_id)
        self._scope = _new_scope()  # the user's ids may come again: not as resends of erased messages
        return removed

    def close(self) -> None:
        self.log.close()


def _record(event: LoggedEvent) -> dict:
    record = asdict(event)
    if record["request_id"] is None:  # most events follow no answer: keep their lines as they were
        del record["request_id"]
    return record


def _new_scope() -> str:
    return uuid.uuid4().hex[:8]


def _message_id(scope: str, event: LoggedEvent) -> str:
    """The id a backend refuses a resent message by (JetStream, within its duplicate window):
    the event's user and event_id, in a scope of the writer's. A retry after a lost ack comes
    from the same writer and scope, so the stored copy stands; a new writer (after a restart)
    checks ids itself, from the log; after a deletion the scope is new, so a forgotten user's
    event is stored again rather than taken for its erased copy."""
    key = hashlib.blake2b(f"{event.user_id}\0{event.event_id}".encode(), digest_size=12).hexdigest()
    return f"{scope}-{key}"


def read_log(path: str | Path, offset: int = 0) -> Iterator[LoggedEvent]:
    """Events of one log file in write order, from byte `offset`; a torn last line is skipped."""
    return (LoggedEvent(**record) for record in read_records(Path(path), offset))


def read_all_logs(location: str | Path) -> list[LoggedEvent]:
    """Every logged event of every shard, ordered by the time it was logged."""
    events = [LoggedEvent(**record) for record in read_all_records(location, KIND)]
    events.sort(key=lambda e: e.logged_at)  # stable: one log's order is kept on ties
    return events
