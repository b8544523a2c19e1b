"""The durable log of new items (added live by POST /items): a shared log
(rec/storage/shared_log.py), JSON lines in a folder or a JetStream subject.

This log is the source of truth for new items: the serve app's in-memory
new items and their vectors are caches rebuilt from it, and the nightly embed
job reads it into the catalogue it embeds. Unlike the event log (one per shard),
every ingress replica appends to the one log, so an append first reads what other
replicas appended and refuses a conflicting item_id, under the shared log's rule
that nobody appends in between (a file lock, or JetStream's expected last sequence),
and is durable when it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rec.catalog.files import normalize_catalog
from rec.catalog.schemas import catalog_schema
from rec.config import CatalogConfig
from rec.errors import ItemConflictError
from rec.catalog.text import catalog_texts
from rec.storage.shared_log import open_shared_log

log = logging.getLogger(__name__)

LOG_NAME = "new_items"


@dataclass(frozen=True)
class NewItem:
    """One new item: catalogue fields (CATALOG_SCHEMA) and its declared attributes
    (catalog.filterable, as sorted (name, value) pairs), plus when it was logged."""

    item_id: str
    title: str
    year: int | None = None
    categories: tuple[str, ...] = ()
    description: str | None = None
    added_at: float = 0.0
    attributes: tuple[tuple[str, Any], ...] = ()

    def content(self) -> tuple:
        """What makes two posts of one item_id the same item (not when they were logged)."""
        return (self.title, self.year, tuple(self.categories), self.description or None,
                tuple((n, v) for n, v in self.attributes if v is not None))

    def catalog_row(self) -> dict:
        """The item as a raw catalogue row (for normalize_catalog / item_text)."""
        return {
            "item_id": self.item_id, "title": self.title, "year": self.year,
            "categories": list(self.categories), "description": self.description, **dict(self.attributes),
        }

    def record(self) -> dict:
        """The item as a line of the log (no `attributes` field when it has none: older lines are alike)."""
        record = {**asdict(self), "categories": list(self.categories), "attributes": dict(self.attributes)}
        if not self.attributes:
            del record["attributes"]
        return record

    @classmethod
    def from_row(cls, row: Mapping) -> NewItem:
        """From a catalogue/items-table row or a logged record (missing fields are empty)."""
        return cls(
            item_id=row["item_id"], title=row["title"], year=row.get("year"),
            categories=tuple(row.get("categories") or ()), description=row.get("description") or None,
            added_at=float(row.get("added_at") or 0.0), attributes=tuple(sorted((row.get("attributes") or {}).items())),
        )


def new_items_catalog(items: Iterable[NewItem], filterable: Mapping[str, str] | None = None) -> pa.Table:
    """Items as a normalised catalogue table (with the `filterable` columns), exactly as the
    embed job reads a catalogue."""
    rows = [item.catalog_row() for item in items]
    return normalize_catalog(pa.Table.from_pylist(rows, schema=catalog_schema(filterable)), filterable)


def new_item_texts(items: Iterable[NewItem], config: CatalogConfig) -> list[str]:
    """The encoder input of each item: the embed job's own text function on the same normalised row."""
    return catalog_texts(new_items_catalog(items, config.filterable), config)


class NewItemLog:
    """One replica's view of the shared log at `location` (paths.new_items_dir): the items
    read so far, in log order."""

    def __init__(self, location: str | Path) -> None:
        self.items: dict[str, NewItem] = {}  # insertion order = log order
        self._log = open_shared_log(location, LOG_NAME)

    def refresh(self) -> list[NewItem]:
        """Read the lines appended since the last call (by any replica); returns the new items.

        Costs one stat() (or one round trip to JetStream) when nothing was appended, so it
        can run on every request.
        """
        return self._take(*self._log.read_appended())

    def _take(self, records: list[dict], restarted: bool) -> list[NewItem]:
        if restarted:  # cut torn tail or replaced file: read again from the start
            self.items.clear()
        added = []
        for item in map(NewItem.from_row, records):
            if item.item_id not in self.items:  # first write wins; later ones are never appended
                self.items[item.item_id] = item
                added.append(item)
        return added

    def append(self, items: Sequence[NewItem]) -> list[NewItem]:
        """Log the items not logged yet and fsync; returns those appended.

        Raises ItemConflictError (and writes nothing) if any item_id is already
        logged with other content, by this replica or another one.
        """
        unlogged: list[NewItem] = []

        def records(appended: list[dict], restarted: bool) -> list[dict]:  # again if another replica got in first
            self._take(appended, restarted)
            check_conflicts(items, self.items)
            now = time.time()
            unlogged[:] = (NewItem(**{**asdict(item), "added_at": now})
                           for item in items if item.item_id not in self.items)
            return [item.record() for item in unlogged]

        self._log.append(records)
        self.refresh()  # our own lines, so the next append does not re-read them
        return unlogged


def check_conflicts(items: Iterable[NewItem], known: Mapping[str, NewItem]) -> None:
    """ItemConflictError for the first item whose id is in `known` with other content."""
    for item in items:
        other = known.get(item.item_id)
        if other is not None and other.content() != item.content():
            raise ItemConflictError(
                f"item_id: {item.item_id!r} already exists with other content "
                f"(title {other.title!r}, year {other.year}, categories {list(other.categories)}); "
                "post it under a new item_id"
            )


def read_new_items(location: str | Path) -> list[NewItem]:
    """Every logged item, in log order (a torn last line is skipped)."""
    item_log = NewItemLog(location)
    item_log.refresh()
    return list(item_log.items.values())


def items_to_embed(location: str | Path, catalog_ids: Iterable[str]) -> list[NewItem]:
    """Logged items the catalogue file does not hold (yet): what the nightly embed job adds to it.

    An id the catalogue has now is the catalogue's; the log stays the only record of the others,
    so they are embedded again every night.
    """
    known = set(catalog_ids)
    return [item for item in read_new_items(location) if item.item_id not in known]
