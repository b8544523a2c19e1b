"""The HTTP API: FastAPI routes on a Ray Serve ingress deployment.

Thin over rec/: validation happens in the request models, domain errors
become HTTP statuses here and nowhere else. (No `from __future__ import
annotations` here: FastAPI must see the real types of the route arguments.)

Every route reads the live bundle (serve/live.py) once and answers from it
alone; the user shards and the query encoder are told which encoder version
to answer in. A reload swaps the bundle only after every shard holds the new
version's user states.

Items added live (POST /items) are recommendable at once: each bundle holds
them in its own vector spaces (serve/new_items.py) and every recommendation
merges the pinned table's top-k with theirs, by the same score.
"""


import asyncio
import hmac
import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime

from fastapi import Body, FastAPI, Header, HTTPException, Path, Query
from ray import serve
from ray.serve.handle import DeploymentHandle

from rec.config import RecConfig, ServeConfig
from rec.errors import ItemConflictError, RecError, UnknownItemError
from rec.ranking.candidates import merge_top_k
from rec.storage.new_item_log import NewItem
from rec.catalog.schemas import ID_PATTERN, is_valid_category
from rec.storage.items_table import ScoredItem
from rec.interest.shard import IncomingEvent, UserProfile, shard_of
from serve.body_limits import RequestBodyLimits
from serve.new_items import FreshItemsKeeper
from serve.live import LiveVersion, open_live, resolve_live, version_key
from serve.schemas import (
    EventIn, EventsAccepted, ItemIn, ItemsAccepted, RecommendedItem, Recommendations, ReloadResult, TextQuery,
    UserDeleted, VersionInfo, problem_responses,
)

log = logging.getLogger(__name__)
MAX_CATEGORIES = 20
CATEGORY_QUERY = Query(
    None, description="only items in at least one of these categories (repeat the parameter for more)",
)

api = FastAPI(
    title="Interest recommender",
    description="Events in, recommendations out; item meaning from a text encoder.",
    version="0.1.0",
)


def _live_serve_config() -> ServeConfig:
    """The serve config of this replica's Ingress (the lookup Serve itself uses to bind `self`)."""
    return serve.get_replica_context().servable_object.config.serve


# Before @serve.ingress(api), which freezes a copy of the app: bodies too large,
# not UTF-8 or nested too deep are refused here, before FastAPI parses them.
api.add_middleware(RequestBodyLimits, serve_config=_live_serve_config)


def _openapi() -> dict:
    """The spec of this module's `api`. Serve answers from a pickled copy of it, in
    which FastAPI's "not set" sentinel is no longer itself, so the copy's own spec
    would give every explicit Header/Body/Path/Query parameter a bogus `example: {}`."""
    return FastAPI.openapi(api)


api.openapi = _openapi


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
@serve.ingress(api)
class Ingress:
    """Routes requests to user shards, the query encoder and the items table."""

    async def __init__(
        self, config: RecConfig, shards: list[DeploymentHandle], query_encoder: DeploymentHandle,
    ) -> None:
        self.config, self.shards, self.query_encoder = config, shards, query_encoder
        self.fresh_items = FreshItemsKeeper(config, query_encoder)
        self._pending: LiveVersion | None = None  # the bundle a reload is preparing
        # The live versions come from the aliases, not from init args: a replica
        # that restarts after a reload comes back on the versions then live.
        encoder, interest = await asyncio.to_thread(resolve_live, config)
        live = await asyncio.to_thread(open_live, config, encoder, interest)
        await self._prepare(live)
        self._live: LiveVersion = live  # replaced whole by reload(), never changed in place
        self._reload_lock = asyncio.Lock()
        self._poll = None
        if config.serve.reload_interval_s > 0:
            self._poll = asyncio.get_running_loop().create_task(self._poll_aliases(config.serve.reload_interval_s))

    # -- the live versions ---------------------------------------------------

    async def _prepare(self, live: LiveVersion) -> None:
        """Have every user shard hold `live`'s user states and the query encoder its weights.

        The live-added items are placed in `live`'s spaces first (their text vectors
        stored for its encoder), so the shards' rebuild from the event log finds them.
        """
        await self.fresh_items.catch_up(live)
        await asyncio.gather(
            *(shard.prepare.remote(live.encoder) for shard in self.shards),
            self.query_encoder.prepare.remote(live.encoder),
        )

    async def reload(self) -> ReloadResult:
        """Resolve the aliases again and, if they name other versions, go live on them.

        The next bundle is built beside the live one and every shard rebuilds
        its users' states in the new encoder's space from the event log before
        the one reference is swapped; until then requests are answered from
        the old versions, after it from the new ones. A failure leaves the old
        versions live.
        """
        started = time.perf_counter()
        async with self._reload_lock:
            before = self._live
            encoder, interest = await asyncio.to_thread(resolve_live, self.config)
            live = before
            if before.key != (key := version_key(encoder, interest)):
                live = await asyncio.to_thread(open_live, self.config, encoder, interest, before)
                self._pending = live  # POST /items meanwhile embeds in both versions
                try:
                    await self._prepare(live)
                finally:
                    self._pending = None
                self._live = live
                log.info("live versions %s -> %s", before.key, key)
        return ReloadResult(
            changed=live is not before, previous=self._version_info(before), live=self._version_info(live),
            duration_s=round(time.perf_counter() - started, 3),
        )

    async def _poll_aliases(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload()
            except Exception:  # keep serving the current versions; the next poll tries again
                log.exception("reload from the aliases failed; the current versions stay live")

    def _version_info(self, live: LiveVersion) -> VersionInfo:
        return VersionInfo(
            encoder=live.encoder.name, encoder_version=live.encoder.tag, items_table=live.encoder.items_table,
            items_table_version=live.store.version, items=live.item_count, fresh_items=len(live.fresh.text),
            user_shards=len(self.shards),
            interest_model=live.interest.tag if live.interest else None,
            scoring_table_version=live.model.scoring.version if live.model else None,
        )

    # -- helpers -------------------------------------------------------------

    async def _current(self) -> LiveVersion:
        """The live bundle, with the items other replicas logged since the last request placed."""
        live = self._live
        try:
            await self.fresh_items.catch_up(live)
        except Exception:  # e.g. the query encoder is restarting: answer without the newest items
            log.exception("could not place new live-added items; answering without them for now")
        return live

    def _check_key(self, api_key: str | None) -> None:
        expected = self.config.serve.api_key
        # compare_digest: the time taken says nothing about how much of a wrong key was right
        if expected and not hmac.compare_digest((api_key or "").encode(), expected.encode()):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    def _check_categories(self, categories: list[str] | None, field: str) -> set[str]:
        """The requested categories as a set; 422 naming `field` for an unsafe or excessive list."""
        categories = categories or []
        if len(categories) > MAX_CATEGORIES:
            raise HTTPException(422, f"{field}: at most {MAX_CATEGORIES} categories, got {len(categories)}")
        bad = [c for c in categories if not is_valid_category(c)]
        if bad:
            raise HTTPException(
                422, f"{field}: {bad[0]!r} is not a category name (letters, digits, space and "
                     "'&_.-/+(), at most 64 characters)")
        return set(categories)

    @staticmethod
    def _as_batch(body, what: str, limit: int) -> list:
        """One object or a list of them as a list; 422 if empty, 413 if over `limit`."""
        batch = body if isinstance(body, list) else [body]
        if not batch:
            raise HTTPException(422, f"body: the {what} list is empty")
        if len(batch) > limit:
            raise HTTPException(413, f"body: at most {limit} {what}s per request")
        return batch

    def _check_k(self, k: int) -> None:
        if k > self.config.serve.max_k:
            raise HTTPException(422, f"k: must be at most {self.config.serve.max_k}, got {k}")

    @staticmethod
    def _response(live: LiveVersion, strategy: str, items: list[ScoredItem], **extra) -> Recommendations:
        return Recommendations(
            strategy=strategy,
            items=[RecommendedItem(**vars(item)) for item in items],
            encoder_version=live.encoder.tag,
            items_table_version=live.store.version,
            **extra,
        )

    def _user_response(
        self, live: LiveVersion, profile: UserProfile, strategy: str, items: list[ScoredItem], **extra,
    ) -> Recommendations:
        return self._response(
            live, strategy, items, user_id=profile.user_id, n_events=profile.n_events,
            user_state_version=profile.encoder_version, **extra,
        )

    def _to_incoming(self, event: EventIn, now: float) -> IncomingEvent:
        ts = event.timestamp
        seconds = now if ts is None else ts.timestamp() if isinstance(ts, datetime) else float(ts)
        if seconds > now + self.config.serve.max_future_skew_seconds:
            raise HTTPException(422, f"timestamp: {seconds:.0f} is in the future (now {now:.0f})")
        if seconds < 0:
            raise HTTPException(422, f"timestamp: must not be negative, got {seconds}")
        return IncomingEvent(event.event_id or uuid.uuid4().hex, event.user_id, event.item_id, event.type, seconds)

    # -- routes --------------------------------------------------------------

    @api.post(
        "/events", response_model=EventsAccepted, summary="Record one event or a list of events",
        responses=problem_responses(401, 413, 422),
    )
    async def post_events(
        self,
        body: EventIn | list[EventIn] = Body(...),
        x_api_key: str | None = Header(None),
    ) -> EventsAccepted:
        self._check_key(x_api_key)
        events = self._as_batch(body, "event", self.config.serve.max_events_per_request)
        now = time.time()
        incoming = [self._to_incoming(e, now) for e in events]
        live = await self._current()
        vectors = live.store.vectors([e.item_id for e in incoming])
        vectors.update(live.fresh.text.vectors({e.item_id for e in incoming} - vectors.keys()))  # live-added
        unknown = sorted({e.item_id for e in incoming} - vectors.keys())
        if unknown:  # nothing is written unless every event is valid
            raise HTTPException(422, str(UnknownItemError(unknown)))
        by_shard: dict[int, list[IncomingEvent]] = defaultdict(list)
        for event in incoming:
            by_shard[shard_of(event.user_id, len(self.shards))].append(event)
        results = await asyncio.gather(*(
            self.shards[shard].apply.remote(batch, {e.item_id: vectors[e.item_id] for e in batch}, live.encoder)
            for shard, batch in by_shard.items()
        ))
        return EventsAccepted(
            received=len(incoming),
            accepted=sum(r.accepted for r in results),
            duplicates=sum(r.duplicates for r in results),
        )

    @api.post(
        "/items", response_model=ItemsAccepted, summary="Add brand-new items, recommendable at once",
        responses=problem_responses(401, 409, 413, 422, 503),
    )
    async def post_items(
        self,
        body: ItemIn | list[ItemIn] = Body(...),
        x_api_key: str | None = Header(None),
    ) -> ItemsAccepted:
        """Add one item or a list: each is embedded from its text by the live encoder, logged
        durably (fsynced) and recommendable at once, before the nightly embed makes it a
        catalogue item. Re-posting an identical item changes nothing; an item_id already
        known with other content is a 409."""
        self._check_key(x_api_key)
        posted = self._as_batch(body, "item", self.config.serve.max_items_per_request)
        items = self._distinct_items(posted)
        live = await self._current()
        try:
            added, _ = await self.fresh_items.add(items, live, self._pending)
        except ItemConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        except Exception as exc:  # the encoder or the vector table failed before anything was logged
            log.exception("POST /items failed")
            raise HTTPException(503, f"items not added, nothing was logged: {exc!r}") from None
        return ItemsAccepted(
            received=len(posted), added=len(added), duplicates=len(posted) - len(added),
            encoder_version=live.encoder.tag,
        )

    @staticmethod
    def _distinct_items(posted: list[ItemIn]) -> list[NewItem]:
        """One NewItem per item_id; 422 if one request gives an id twice with different content."""
        items: dict[str, NewItem] = {}
        for item in (p.to_new_item() for p in posted):
            if items.setdefault(item.item_id, item).content() != item.content():
                raise HTTPException(422, f"item_id: {item.item_id!r} is given twice with different content")
        return list(items.values())

    @api.get(
        "/users/{user_id}/recommendations", response_model=Recommendations, responses=problem_responses(422, 503),
    )
    async def recommend_for_user(
        self, user_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
        category: list[str] | None = CATEGORY_QUERY,
    ) -> Recommendations:
        """Top-k items for the user's current interest, without items they already touched:
        from the interest model when one is live and knows the user's items, else from
        the per-event interest vector; a user with no positive event gets popular items."""
        k = k or self.config.serve.default_k
        self._check_k(k)
        categories = self._check_categories(category, "category")
        live = await self._current()
        profile = await self.shards[shard_of(user_id, len(self.shards))].profile.remote(user_id, live.encoder)
        if profile.encoder_version != live.encoder.tag:  # never expected: refuse rather than mix spaces
            raise HTTPException(503, f"user state of {profile.encoder_version}, not the live {live.encoder.tag}")
        if live.model is not None:
            query = live.model.query_vector(profile.recent_items, profile.recent_timestamps)
            if query is not None:
                items = merge_top_k(
                    live.model.scoring.search(query, k, exclude=profile.seen_items, categories=categories),
                    live.fresh.model.search(query, k, exclude=profile.seen_items, categories=categories), k,
                )
                return self._user_response(live, profile, "interest-model", items, model_version=live.interest.tag)
        if profile.interest is None:
            items = [
                item for item in live.popular
                if item.item_id not in profile.seen_items and (not categories or categories & set(item.categories))
            ][:k]
            return self._user_response(live, profile, "popular", items)
        rule = self.config.interest
        items = merge_top_k(  # fresh items have no popularity yet: their score is the cosine alone
            live.store.search(profile.interest, k, exclude=profile.seen_items, categories=categories,
                              popularity_weight=rule.popularity_weight, candidates=rule.popularity_candidates),
            live.fresh.text.search(profile.interest, k, exclude=profile.seen_items, categories=categories), k,
        )
        return self._user_response(live, profile, "interest", items)

    @api.delete("/users/{user_id}", response_model=UserDeleted, responses=problem_responses(401, 422))
    async def delete_user(
        self, user_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> UserDeleted:
        """Remove the user's state and events from the live store and the event log at once;
        a later recommendation for them is a cold start."""
        self._check_key(x_api_key)
        removed = await self.shards[shard_of(user_id, len(self.shards))].delete_user.remote(user_id)
        return UserDeleted(user_id=user_id, deleted_events=removed)

    @api.post("/recommendations/text", response_model=Recommendations, responses=problem_responses(413, 422))
    async def recommend_for_text(self, query: TextQuery) -> Recommendations:
        """Items matching free-text interests, e.g. "I like space adventures and old musicals"."""
        self._check_k(query.k)
        categories = self._check_categories(query.categories, "categories")
        if len(query.text) > self.config.serve.max_text_chars:
            raise HTTPException(422, f"text: at most {self.config.serve.max_text_chars} characters")
        live = await self._current()
        vector = await self.query_encoder.embed.remote(query.text, live.encoder)
        items = merge_top_k(
            live.store.search(vector, query.k, categories=categories),
            live.fresh.text.search(vector, query.k, categories=categories), query.k,
        )
        return self._response(live, "text", items)

    @api.get("/items/{item_id}/similar", response_model=Recommendations, responses=problem_responses(404, 422))
    async def similar_items(
        self, item_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
        category: list[str] | None = CATEGORY_QUERY,
    ) -> Recommendations:
        k = k or self.config.serve.default_k
        self._check_k(k)
        categories = self._check_categories(category, "category")
        live = await self._current()
        vector = live.store.vectors([item_id]).get(item_id)
        if vector is None:
            vector = live.fresh.text.vectors([item_id]).get(item_id)
        if vector is None:
            raise HTTPException(404, f"item_id: {item_id!r} is not in the catalogue")
        items = merge_top_k(
            live.store.search(vector, k, exclude={item_id}, categories=categories),
            live.fresh.text.search(vector, k, exclude={item_id}, categories=categories), k,
        )
        return self._response(live, "similar", items)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/version", response_model=VersionInfo)
    async def version(self) -> VersionInfo:
        return self._version_info(self._live)

    @api.post("/admin/reload", response_model=ReloadResult, responses=problem_responses(401, 409, 503))
    async def admin_reload(self, x_api_key: str | None = Header(None)) -> ReloadResult:
        """Go live on the versions the aliases name now (encoder@champion with its items
        table, and the interest model), without a redeploy: user states of a new encoder
        are rebuilt from the event log first, then one pointer swaps. Changes nothing if
        the aliases name what is live, or if the new versions cannot be served (409)."""
        self._check_key(x_api_key)
        try:
            return await self.reload()
        except RecError as exc:  # e.g. the champion has no items table, or holds another model's vectors
            raise HTTPException(409, f"not reloaded, the live versions are unchanged: {exc}") from None
        except Exception as exc:  # e.g. a shard could not rebuild: still nothing swapped
            log.exception("reload failed")
            raise HTTPException(503, f"not reloaded, the live versions are unchanged: {exc!r}") from None
