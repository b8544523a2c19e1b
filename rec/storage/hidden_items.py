"""The durable log of hidden items (POST /items/{id}/hide and /unhide): a shared log
(rec/storage/shared_log.py: a JSON-lines file or a JetStream subject) that every ingress
replica appends to and follows, so an item hidden through one replica leaves every
replica's answers on their next request. An item's latest record wins.
"""

from __future__ import annotations

import time
from pathlib import Path

from rec.storage.shared_log import open_shared_log

LOG_NAME = "hidden_items"


class HiddenItemsLog:
    """One replica's view of the shared log at `location` (paths.new_items_dir): the items hidden now."""

    def __init__(self, location: str | Path) -> None:
        self.hidden: frozenset[str] = frozenset()  # replaced whole, never changed in place
        self._log = open_shared_log(location, LOG_NAME)

    def refresh(self) -> frozenset[str]:
        """The items hidden now, with the lines any replica appended since the last call."""
        return self._take(*self._log.read_appended())

    def _take(self, records: list[dict], restarted: bool) -> frozenset[str]:
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

        def records(appended: list[dict], restarted: bool) -> list[dict]:
            nonlocal changed
            changed = (item_id in self._take(appended, restarted)) != hidden
            return [{"item_id": item_id, "hidden": hidden, "at": time.time()}] if changed else []

        self._log.append(records)
        self.refresh()
        return changed
