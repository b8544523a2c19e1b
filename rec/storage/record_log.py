"""One writer's log of users' records (each has a "user_id"): the event log and the
stated-interests log of one user shard. Two backends, chosen by the log's location:

- a folder (the default): one JSON-lines file per shard (rec/storage/jsonl.py),
  fsynced before an append returns;
- `nats://host:port/STREAM`: one subject per shard in a JetStream stream
  (rec/storage/jetstream.py), acknowledged by the server before an append returns.

Both give the same guarantees: records come back in append order, an append is
durable when it returns, and `remove_user` leaves none of a user's records behind.
A `LogPosition` marks how far a reader got, so a shard resumes after it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

from rec.storage.jsonl import UserRecordFile, read_records

_TAIL_BYTES = 4096  # the end of a file read so far, whose checksum shows the file is the same


@dataclass(frozen=True)
class LogPosition:
    """How far into a log a reader got, and how to tell the log is still that one: for a
    file, its byte offset and a checksum of the bytes before it; for a stream, its last
    sequence number and a checksum of the stream's creation time."""

    offset: int
    tail_crc: int


class RecordLog(Protocol):
    """One shard's log of user records, written by that shard only."""

    refuses_resent_ids: bool  # whether `append` uses `ids` (else the caller need not make them)

    def append(self, records: Sequence[dict[str, Any]], ids: Sequence[str] | None = None) -> None:
        """Durable when this returns. `ids` (one a record) let the backend refuse a resent one."""

    def records(self, after: LogPosition | None = None) -> Iterator[dict[str, Any]]:
        """This log's records in append order, from `after` on (None: all)."""

    def end(self) -> LogPosition:
        """Where the log ends now (every append returned)."""

    def holds(self, position: LogPosition) -> bool:
        """Whether the log still holds what it held up to `position` (appended to, not rewritten)."""

    def remove_user(self, user_id: str) -> int:
        """Remove every record of `user_id`; returns how many there were."""

    def close(self) -> None: ...


def is_stream(location: str | Path) -> bool:
    return str(location).startswith("nats://")


def stream_location(location: str) -> tuple[str, str, float | None]:
    """(server URL, stream name, retention in seconds or None) of
    `nats://host:port/STREAM[?max_age_days=D]`; a ValueError says what is wrong."""
    parsed = urlparse(location)
    stream = parsed.path.strip("/")
    if not parsed.netloc or not stream or any(c in stream for c in ". *>/"):
        raise ValueError(f"{location!r}: an event log on JetStream is nats://host:port/STREAM, "
                         "as in nats://127.0.0.1:4222/REC (a stream name has no '.', '*', '>', '/' or space)")
    options = parse_qs(parsed.query)
    unknown = set(options) - {"max_age_days"}
    if unknown:
        raise ValueError(f"{location!r}: unknown option {sorted(unknown)[0]!r}; the one option is max_age_days")
    max_age = None
    if "max_age_days" in options:
        try:
            max_age = float(options["max_age_days"][0]) * 86_400
        except ValueError:
            max_age = -1.0
        if not max_age > 0:
            raise ValueError(f"{location!r}: max_age_days must be a number of days above 0")
    return f"nats://{parsed.netloc}", stream, max_age


def open_record_log(location: str | Path, kind: str, shard: int) -> RecordLog:
    """Shard `shard`'s log of `kind` ("events", "stated") at `location` (a folder or a nats:// URI)."""
    if is_stream(location):
        from rec.storage.jetstream import JetStreamRecordLog  # the nats client only where it is used
        return JetStreamRecordLog(str(location), kind, shard)
    return JsonlRecordLog(record_file_path(location, kind, shard))


def read_all_records(location: str | Path, kind: str) -> Iterator[dict[str, Any]]:
    """The records of every shard's log of `kind`, shard by shard, each in append order."""
    if is_stream(location):
        from rec.storage.jetstream import read_all_subjects
        return read_all_subjects(str(location), kind)
    return (record for path in sorted(Path(location).glob(f"{kind}-shard-*.jsonl")) for record in read_records(path))


def record_file_path(folder: str | Path, kind: str, shard: int) -> Path:
    return Path(folder) / f"{kind}-shard-{shard:04d}.jsonl"


class JsonlRecordLog:
    """A RecordLog in one JSON-lines file."""

    refuses_resent_ids = False  # the shard refuses resent ids itself (rec/interest/event_keys.py)

    def __init__(self, path: str | Path) -> None:
        self.file = UserRecordFile(path)
        self.path = self.file.path

    def append(self, records: Sequence[dict[str, Any]], ids: Sequence[str] | None = None) -> None:
        self.file.append(records)

    def records(self, after: LogPosition | None = None) -> Iterator[dict[str, Any]]:
        return read_records(self.path, after.offset if after else 0)

    def end(self) -> LogPosition:
        size = self.path.stat().st_size if self.path.exists() else 0
        return LogPosition(size, _tail_crc(self.path, size))

    def holds(self, position: LogPosition) -> bool:
        size = self.path.stat().st_size if self.path.exists() else 0
        return size >= position.offset and _tail_crc(self.path, position.offset) == position.tail_crc

    def remove_user(self, user_id: str) -> int:
        return self.file.remove_user(user_id)

    def close(self) -> None:
        self.file.close()


def _tail_crc(path: Path, offset: int) -> int:
    if offset == 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(max(0, offset - _TAIL_BYTES))
        return zlib.crc32(handle.read(min(offset, _TAIL_BYTES)))
