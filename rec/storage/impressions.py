"""The impressions log: every answer the service gives (request id, user, variant, model
version, the items in their positions), for attributing clicks and comparing variants.

Off the hot path: a request only appends to a buffer in memory; a background task
writes the buffer as one fsynced batch (rec/storage/jsonl.py) every
serve.ab.impressions_flush_s. A crash loses at most that last interval of
impressions, never an event. One file per writer (an ingress replica), so
writers never contend for a file.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from rec.storage.jsonl import append_durably, cut_torn_tail, read_records


@dataclass(frozen=True)
class Impression:
    """One answer as shown: item j of `items` was at position offset + j (0-based)."""

    request_id: str
    user_id: str | None  # None: an answer for no user (free text, similar items)
    route: str  # user | text | similar
    variant: str
    model_version: str | None  # the interest model that answered; None without one
    items: tuple[str, ...]
    offset: int
    served_at: float  # unix seconds, the server's clock

    @classmethod
    def of(cls, record: dict) -> Impression:
        return cls(**{**record, "items": tuple(record["items"])})


def impressions_path(folder: str | Path, writer: str) -> Path:
    return Path(folder) / f"impressions-{writer}.jsonl"


class ImpressionLog:
    """One writer's impressions: buffered by add(), written durably by flush()."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut_torn_tail(self.path)
        self._file = open(self.path, "ab")
        self._buffer: list[dict] = []
        self._swap = threading.Lock()  # add() on the event loop, flush() in a thread
        self._write = threading.Lock()  # one batch on disk at a time, in order

    def add(self, impression: Impression) -> None:
        with self._swap:
            self._buffer.append(asdict(impression))

    def flush(self) -> int:
        """Write what was added since the last flush, as one fsynced batch; returns how many."""
        with self._write:
            with self._swap:
                batch, self._buffer = self._buffer, []
            if batch:
                append_durably(self._file, batch)
            return len(batch)

    def close(self) -> None:
        self.flush()
        self._file.close()


def read_impressions(folder: str | Path) -> list[Impression]:
    """Every writer's impressions, in the order they were served."""
    impressions = [Impression.of(record) for path in sorted(Path(folder).glob("impressions-*.jsonl"))
                   for record in read_records(path)]
    impressions.sort(key=lambda i: i.served_at)
    return impressions

