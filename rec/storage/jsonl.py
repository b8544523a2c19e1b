"""Append-only JSON-lines files, durable when an append returns: the one writer
shared by the event log, the stated-interests log, the new-items log and the
hidden-items log.

A batch is written and fsynced as a whole (group commit). A crash can leave a
torn last line (one without its newline); readers stop before it and a
writer cuts it off before it appends, so the next append starts on a clean line.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)


def encode_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """Compact JSON, one record a line."""
    return b"".join(json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records)


def append_durably(handle: BinaryIO, records: Iterable[dict[str, Any]]) -> None:
    """Write `records` to an open append handle and fsync: when this returns they survive a crash."""
    handle.write(encode_lines(records))
    handle.flush()
    os.fsync(handle.fileno())


def rewrite_durably(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace the file by `records`: written beside it, fsynced and renamed over it, so a
    crash leaves either the old file or the new one, never half of one."""
    partial = path.with_suffix(".rewrite")
    with open(partial, "wb") as handle:
        append_durably(handle, records)
    os.replace(partial, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a file created in `folder` survive a crash under its name (fsync the directory)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cut_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a writer crashed mid-write). With several
    writers, call it under their lock: never on a line another one is still writing."""
    if not path.exists():
        return
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        end = handle.read().rfind(b"\n") + 1
        log.warning("%s: cutting a torn last line of %d bytes", path, size - end)
        handle.truncate(end)
        handle.flush()
        os.fsync(handle.fileno())


def read_records(path: Path, offset: int = 0) -> Iterator[dict[str, Any]]:
    """The records of a file in write order, from byte `offset` (a line's start); a torn last line is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            if not line.endswith(b"\n"):
                break
            yield json.loads(line)


def complete_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records of the complete lines in `data`, and how many bytes they take: a line
    without its newline is still being written (or torn) and is left for later."""
    end = data.rfind(b"\n") + 1
    return [json.loads(line) for line in data[:end].splitlines()], end


class UserRecordFile:
    """One file of users' records (each has a "user_id"), appended to by its only writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut_torn_tail(self.path)
        self._file = open(self.path, "ab")

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Write `records` and fsync; when this returns they survive a crash."""
        if records:
            append_durably(self._file, records)

    def remove_user(self, user_id: str) -> int:
        """Rewrite the file without `user_id`'s records (the right to be forgotten): a crash
        leaves either the old file or the new one (rewrite_durably). Returns how many went."""
        self._file.close()
        kept, removed = [], 0
        for record in read_records(self.path):
            if record["user_id"] == user_id:
                removed += 1
            else:
                kept.append(record)
        if removed:
            rewrite_durably(self.path, kept)
        self._file = open(self.path, "ab")
        return removed

    def close(self) -> None:
        self._file.close()


class SharedLogReader:
    """Follows a file that several processes append to: each call reads the lines appended
    since the last one. Costs one stat() when nothing was appended, so it can run on
    every request."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0  # bytes of complete lines read

    def read_appended(self) -> tuple[list[dict[str, Any]], bool]:
        """(the records appended since the last call, whether the file was read again from
        its start: it shrank (a cut torn tail) or was replaced, so earlier records may be gone)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return [], False
        if size == self._offset:
            return [], False
        restarted = size < self._offset
        if restarted:
            self._offset = 0
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            records, end = complete_lines(handle.read(size - self._offset))
        self._offset += end
        return records, restarted


def append_locked(path: Path, records_of: Callable[[], Sequence[dict[str, Any]]]) -> None:
    """Append to a file that several processes write: under an exclusive lock, with any torn
    last line cut first, `records_of()` (which may re-read the file and raise to write
    nothing) gives the records, written and fsynced before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        cut_torn_tail(path)
        records = records_of()
        if records:
            append_durably(handle, records)
    if created:
        fsync_dir(path.parent)  # the new file's name survives a crash too
