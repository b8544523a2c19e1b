"""The durable event log: append-only JSON lines, fsynced before an ack.

One file per writer (a user shard), so writers never contend for a file.
A batch is written and fsynced as a whole (group commit). A crash can leave
a torn last line; readers skip it and a writer cuts it off when it reopens,
so the next append starts on a clean line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

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


def shard_log_path(log_dir: str | Path, shard: int) -> Path:
    """The log file written by one user shard."""
    return Path(log_dir) / f"events-shard-{shard:04d}.jsonl"


class EventLogWriter:
    """Appends batches to one log file, durably."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._file = open(self.path, "ab")

    def append(self, events: Sequence[LoggedEvent]) -> None:
        """Write `events` and fsync; when this returns they survive a crash."""
        if not events:
            return
        payload = b"".join(_encode(e) for e in events)
        self._file.write(payload)
        self._file.flush()
        os.fsync(self._file.fileno())

    def remove_user(self, user_id: str) -> int:
        """Rewrite the file without `user_id`'s events (the right to be forgotten).

        The new file is written beside the old one, fsynced and renamed over it,
        so a crash leaves either the old log or the new one, never half of one.
        Returns how many events were removed.
        """
        self._file.close()
        kept, removed = [], 0
        for event in read_log(self.path):
            if event.user_id == user_id:
                removed += 1
            else:
                kept.append(event)
        if removed:
            partial = self.path.with_suffix(".rewrite")
            with open(partial, "wb") as handle:
                handle.write(b"".join(_encode(e) for e in kept))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path)
            fsync_dir(self.path.parent)
        self._file = open(self.path, "ab")
        return removed

    def close(self) -> None:
        self._file.close()


def _encode(event: LoggedEvent) -> bytes:
    return json.dumps(asdict(event), separators=(",", ":")).encode() + b"\n"


def fsync_dir(folder: Path) -> None:
    """Make a file created in `folder` survive a crash under its name (fsync the directory)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            log.warning("event log %s: cutting a torn last line of %d bytes", path, len(data) - end)
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())


def read_log(path: str | Path) -> Iterator[LoggedEvent]:
    """Events of one log file in write order; a torn last line is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            yield LoggedEvent(**json.loads(line))


def read_all_logs(log_dir: str | Path) -> list[LoggedEvent]:
    """Every logged event of every shard, ordered by the time it was logged."""
    events = [e for path in sorted(Path(log_dir).glob("events-shard-*.jsonl")) for e in read_log(path)]
    events.sort(key=lambda e: e.logged_at)  # stable: one file's order is kept on ties
    return events
