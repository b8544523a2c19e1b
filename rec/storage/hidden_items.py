"""The durable log of hidden items (POST /items/{id}/hide and /unhide): one JSON-lines
file (rec/storage/jsonl.py) that every ingress replica appends to under a lock and
follows, so an item hidden through one replica leaves every replica's answers on
their next request. An item's latest line wins.
"""

from __future__ import annotations

import time
from pathlib import Path

from rec.storage.jsonl import SharedLogReader, append_locked

LOG_FILE = "hidden_items.jsonl"


def hidden_items_log_path(folder: str | Path) -> Path:
    return Path(folder) / LOG_FILE


class HiddenItemsLog:
    """One replica's view of the shared log: the items hidden now."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hidden: frozenset[str] = frozenset()  # replaced whole, never changed in place
        self._reader = SharedLogReader(self.path)

    def refresh(self) -> frozenset[str]:
        """The items hidden now, with the lines any replica appended since the last call."""
        records, restarted = self._reader.read_appended()
        if records or restarted:
            hidden = set() if restarted else set(self.hidden)
            for record in records:
                (hidden.add if record["hidden"] else hidden.discard)(record["item_id"])
            self.hidden = frozenset(hidden)
        return self.hidden

    def set_hidden(self, item_id: str, hidden: bool) -> bool:
        """Hide or show the item again, durably; returns whether that changed anything
        (hiding a hidden item writes nothing)."""
        changed = False

        def records() -> list[dict]:
            nonlocal changed
            changed = (item_id in self.refresh()) != hidden
            return [{"item_id": item_id, "hidden": hidden, "at": time.time()}] if changed else []

        append_locked(self.path, records)
        self.refresh()
        return changed
