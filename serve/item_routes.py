"""The routes that change what can be recommended: new items (POST /items) and hidden items.

A part of the Ingress deployment (serve/ingress.py), which inherits them; Serve binds
inherited routes as its own. They use the ingress's config, live versions, new-item
placer, hidden-items log, metrics and API-key check. (No `from __future__ import
annotations`: FastAPI must see the real types of the route arguments.)
"""

import logging

from fastapi import Body, Header, HTTPException, Path

from rec.catalog.schemas import ID_PATTERN
from rec.errors import ItemConflictError
from serve.http import api
from serve.schemas import (
    HiddenItems, ItemIn, ItemsAccepted, ItemVisibility, as_batch, distinct_items, problem_responses,
)

log = logging.getLogger(__name__)


class ItemRoutes:
    """POST /items, POST /items/{id}/hide and /unhide, GET /items/hidden."""

    @api.post(
        "/items", response_model=ItemsAccepted, summary="Add brand-new items, recommendable at once",
        responses=problem_responses(401, 409, 413, 422, 503),
    )
    async def post_items(
        self, body: ItemIn | list[ItemIn] = Body(...), x_api_key: str | None = Header(None),
    ) -> ItemsAccepted:
        """Add one item or a list: each is embedded from its text by the live encoder, logged
        durably (fsynced) and recommendable at once, before the nightly embed makes it a
        catalogue item. Re-posting an identical item changes nothing; an item_id already
        known with other content is a 409."""
        self._check_key(x_api_key)
        posted = as_batch(body, "item", self.config.serve.max_items_per_request)
        items = distinct_items(posted, self.config.catalog)
        live = await self.versions.current()
        try:
            added, _ = await self.new_items.add(items, live, self.versions.pending)
        except ItemConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        except Exception as exc:  # the encoder or the vector table failed before anything was logged
            log.exception("POST /items failed")
            raise HTTPException(503, f"items not added, nothing was logged: {exc!r}") from None
        if added:
            self.metrics.items_added.inc(len(added))
        return ItemsAccepted(received=len(posted), added=len(added), duplicates=len(posted) - len(added),
                             encoder_version=live.encoder.tag)

    @api.post("/items/{item_id}/hide", response_model=ItemVisibility, responses=problem_responses(401, 404, 422))
    async def hide_item(
        self, item_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> ItemVisibility:
        """Leave the item out of every answer, on every replica from its next request (a recall,
        a licence ending). Logged durably before the 2xx; POST /items/{id}/unhide undoes it."""
        return await self._set_hidden(item_id, True, x_api_key)

    @api.post("/items/{item_id}/unhide", response_model=ItemVisibility, responses=problem_responses(401, 404, 422))
    async def unhide_item(
        self, item_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> ItemVisibility:
        """Recommend a hidden item again."""
        return await self._set_hidden(item_id, False, x_api_key)

    async def _set_hidden(self, item_id: str, hidden: bool, api_key: str | None) -> ItemVisibility:
        self._check_key(api_key)
        live = await self.versions.current()
        if item_id not in live.text.vectors([item_id]):
            raise HTTPException(404, f"item_id: {item_id!r} is not in the catalogue")
        changed = self.hidden.set_hidden(item_id, hidden)  # on the loop, as every read of self.hidden
        return ItemVisibility(item_id=item_id, hidden=hidden, changed=changed)

    @api.get("/items/hidden", response_model=HiddenItems)
    async def hidden_items(self) -> HiddenItems:
        """The items hidden now."""
        return HiddenItems(items=sorted(self.hidden.refresh()))
