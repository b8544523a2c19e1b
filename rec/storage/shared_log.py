"""A log that every ingress replica appends to and follows: the new-items log and the
hidden-items log. Two backends, chosen by the location (`paths.new_items_dir`):

- a folder (the default): one JSON-lines file, `<name>.jsonl`, appended to under an
  exclusive lock (rec/storage/jsonl.py `append_locked`);
- `nats://host:port/STREAM`: one subject, `STREAM.<name>`, in a JetStream stream
  (rec/storage/jetstream.py). An append is one message, stored only if the subject
  still ends where the writer last read it; if another replica appended first, the
  writer reads again and decides again. The same "decide on everything written so
  far" as the lock gives, with no lock.

Either way an append is durable when it returns, and every replica's next read has it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rec.storage.jsonl import SharedLogReader, append_locked
from rec.storage.record_log import is_stream

Records = list[dict[str, Any]]
Decide = Callable[[Records, bool], Sequence[dict[str, Any]]]


class SharedLog(Protocol):
    def read_appended(self) -> tuple[Records, bool]:
        """(the records any writer appended since the last call, whether the log was read
        again from its start: earlier records may be gone)."""

    def append(self, decide: Decide) -> None:
        """Append what `decide` returns, decided on the whole log: it is given what was
        appended since the last read (as `read_appended` returns it) to take in first, and
        may raise to write nothing. It may be called again, with what another writer
        appended meanwhile. Durable when this returns."""


def open_shared_log(location: str | Path, name: str) -> SharedLog:
    """The shared log `name` ("new_items", "hidden_items") at `location` (a folder or a nats:// URI)."""
    if is_stream(location):
        from rec.storage.jetstream import JetStreamSharedLog  # the nats client only where it is used
        return JetStreamSharedLog(str(location), name)
    return JsonlSharedLog(shared_log_path(location, name))


def shared_log_path(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.jsonl"


class JsonlSharedLog:
    """A SharedLog in one JSON-lines file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader = SharedLogReader(self.path)

    def read_appended(self) -> tuple[Records, bool]:
        return self._reader.read_appended()

    def append(self, decide: Decide) -> None:
        append_locked(self.path, lambda: decide(*self._reader.read_appended()))
