"""New items in the ingress: POST /items, and the new items of each live bundle.

Where their vectors live with several ingress replicas (and why):

* the new-items log (rec/storage/new_item_log.py, one fsynced file shared by
  the replicas) is the source of truth; an append takes a file lock and
  re-reads the log first, so an item_id is accepted once, whichever replica
  gets it;
* each live bundle holds `BundleNewItems`: the new items in its own vector
  spaces (text vectors of its encoder; the interest model's projections of
  them), in the ingress replica's memory, searched exactly as part of the
  bundle's candidates (rec/ranking/candidates.py);
* text vectors are cached in a small LanceDB table per encoder version
  (rec/storage/new_item_vectors.py), written before the log append by the
  replica that accepts the item. Every request first stats the log (one
  syscall) and, if it grew, places the new items: vectors from that table,
  embedded by the live query encoder only if missing.

So the replica that accepted a POST reads its write at once, the others on
their next request after the log append (eventually, on a shared file
system), and the user shards rebuild events on new items from the same
table. A single Serve deployment holding the new items would also give this,
but would add a replica hop to every recommendation; the log already has to
be shared for durability, so each replica reads it instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import numpy as np
from ray.serve.handle import DeploymentHandle

from rec.config import RecConfig
from rec.ranking.candidates import InMemoryItems
from rec.storage.new_item_log import NewItem, NewItemLog, check_conflicts, new_item_texts
from rec.storage.new_item_vectors import NewItemVectorTable

log = logging.getLogger(__name__)


class BundleNewItems:
    """The new items one live bundle can recommend, in that bundle's vector spaces."""

    def __init__(
        self, text_dim: int, model_dim: int | None, attributes: Mapping[str, str], table: NewItemVectorTable,
    ) -> None:
        # `attributes`: the declared ones (catalog.filterable), kept for filters
        self.text = InMemoryItems(text_dim, attributes)  # not in the pinned items table: text vectors (M, E)
        self.model = InMemoryItems(model_dim, attributes) if model_dim else None  # unknown to the model: (M', D)
        self.table = table  # text vectors of this encoder version, shared by replicas and shards
        self.placed = 0  # how many items of the log (in log order) have been placed
        self.lock = asyncio.Lock()


class NewItemPlacer:
    """This replica's view of the new-items log; places logged items into live bundles."""

    def __init__(self, config: RecConfig, query_encoder: DeploymentHandle) -> None:
        self.config, self.query_encoder = config, query_encoder
        self.log = NewItemLog(config.paths.new_items_dir)

    async def catch_up(self, live) -> None:
        """Place into `live.new_items` every logged item it does not hold yet (read-your-writes
        here, eventual visibility of other replicas' items). Cheap when nothing is new."""
        self.log.refresh()
        held = live.new_items
        if held.placed == len(self.log.items):
            return
        async with held.lock:
            items = list(self.log.items.values())
            if held.placed > len(items):  # the log was read again from the start
                held.placed = 0
            pending = items[held.placed:]
            if pending:
                await self._place(live, pending)
                held.placed += len(pending)

    async def _place(self, live, items: Sequence[NewItem]) -> None:
        in_store = live.store.vectors([item.item_id for item in items])  # embedded by a nightly run since
        text_vectors = dict(in_store)
        new = [item for item in items if item.item_id not in in_store]
        if new:
            text_vectors.update(await self.text_vectors(live, new))
            live.new_items.text.add(new, np.stack([text_vectors[item.item_id] for item in new]))
        if live.queries is not None:
            unknown = [item for item in items if not live.queries.knows(item.item_id)]
            if unknown:
                projected = live.queries.project_text(np.stack([text_vectors[i.item_id] for i in unknown]))
                live.new_items.model.add(unknown, projected)

    async def text_vectors(self, live, items: Sequence[NewItem]) -> dict[str, np.ndarray]:
        """Text vectors (E,) of `items` in `live`'s encoder space: from the shared table, else
        embedded by the live query encoder and stored there."""
        texts = dict(zip([item.item_id for item in items], new_item_texts(items, self.config.catalog)))
        found = await asyncio.to_thread(live.new_items.table.vectors, texts)
        missing = [item_id for item_id in texts if item_id not in found]
        if missing:
            vectors = await self.query_encoder.encode_texts.remote([texts[i] for i in missing], live.encoder)
            await asyncio.to_thread(live.new_items.table.add, missing, [texts[i] for i in missing], vectors)
            found.update(zip(missing, vectors))
        return found

    async def add(self, items: Sequence[NewItem], live, pending=None) -> tuple[list[NewItem], int]:
        """Accept new items: returns (those logged now, how many were already known as they are).

        Raises ItemConflictError, writing nothing, for an item_id known with other content
        (in the catalogue or the log). The vectors are made and stored first, in the live
        version and in `pending` (a version being prepared by a reload), then the items are
        logged and fsynced, then placed in `live`.
        """
        await self.catch_up(live)
        rows = live.store.catalog_rows([item.item_id for item in items])
        in_catalog = {item_id: NewItem.from_row(row) for item_id, row in rows.items()}
        check_conflicts(items, in_catalog)
        check_conflicts(items, self.log.items)
        new = [item for item in items if item.item_id not in in_catalog and item.item_id not in self.log.items]
        if not new:
            return [], len(items)
        for bundle in [live] + ([pending] if pending is not None else []):
            await self.text_vectors(bundle, new)
        appended = self.log.append(new)  # the commit point: durable when this returns
        try:
            await self.catch_up(live)  # vectors are in the table: no encoder call here
        except Exception:  # logged is logged: the next request places them
            log.exception("items logged but not placed yet")
        return appended, len(items) - len(appended)
