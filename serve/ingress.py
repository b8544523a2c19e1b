"""The HTTP API: FastAPI routes on a Ray Serve ingress deployment.

Thin over rec/: validation happens in the request models, domain errors
become HTTP statuses here and nowhere else. (No `from __future__ import
annotations` here: FastAPI must see the real types of the route arguments.)
"""


import asyncio
import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime

from fastapi import Body, FastAPI, Header, HTTPException, Path, Query
from ray import serve
from ray.serve.handle import DeploymentHandle

from rec.config import RecConfig
from rec.errors import UnknownItemError
from rec.interest_registry import InterestModelVersion
from rec.registry import EncoderVersion
from rec.schemas import ID_PATTERN
from rec.store import ItemStore, ScoredItem, check_vector_space
from rec.user_state import IncomingEvent, shard_of
from serve.interest_model import InterestModelRunner
from serve.schemas import (
    EventIn, EventsAccepted, RecommendedItem, Recommendations, TextQuery, UserDeleted, VersionInfo,
)

log = logging.getLogger(__name__)

api = FastAPI(
    title="Interest recommender",
    description="Events in, recommendations out; item meaning from a text encoder.",
    version="0.1.0",
)


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
@serve.ingress(api)
class Ingress:
    """Routes requests to user shards, the query encoder and the items table."""

    def __init__(
        self, config: RecConfig, live: EncoderVersion, interest: InterestModelVersion | None,
        shards: list[DeploymentHandle], query_encoder: DeploymentHandle,
    ) -> None:
        self.config, self.live, self.interest = config, live, interest
        self.shards, self.query_encoder = shards, query_encoder
        self.store = ItemStore(config.paths.lancedb_uri, live.items_table, live.items_table_version)
        check_vector_space(self.store, live.tag)
        self.popular = self.store.popular(config.serve.popular_pool)
        self.item_count = self.store.count()
        self.model = InterestModelRunner(config, interest) if interest else None

    # -- helpers -------------------------------------------------------------

    def _check_key(self, api_key: str | None) -> None:
        expected = self.config.serve.api_key
        if expected and api_key != expected:
            raise HTTPException(401, "missing or wrong X-API-Key header")

    def _check_k(self, k: int) -> None:
        if k > self.config.serve.max_k:
            raise HTTPException(422, f"k: must be at most {self.config.serve.max_k}, got {k}")

    def _response(self, strategy: str, items: list[ScoredItem], **extra) -> Recommendations:
        return Recommendations(
            strategy=strategy,
            items=[RecommendedItem(**vars(item)) for item in items],
            encoder_version=self.live.tag,
            items_table_version=self.store.version,
            **extra,
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

    @api.post("/events", response_model=EventsAccepted, summary="Record one event or a list of events")
    async def post_events(
        self,
        body: EventIn | list[EventIn] = Body(...),
        x_api_key: str | None = Header(None),
    ) -> EventsAccepted:
        self._check_key(x_api_key)
        events = body if isinstance(body, list) else [body]
        if not events:
            raise HTTPException(422, "body: the event list is empty")
        if len(events) > self.config.serve.max_events_per_request:
            raise HTTPException(413, f"body: at most {self.config.serve.max_events_per_request} events per request")
        now = time.time()
        incoming = [self._to_incoming(e, now) for e in events]
        vectors = self.store.vectors([e.item_id for e in incoming])
        unknown = sorted({e.item_id for e in incoming} - vectors.keys())
        if unknown:  # nothing is written unless every event is valid
            raise HTTPException(422, str(UnknownItemError(unknown)))
        by_shard: dict[int, list[IncomingEvent]] = defaultdict(list)
        for event in incoming:
            by_shard[shard_of(event.user_id, len(self.shards))].append(event)
        results = await asyncio.gather(*(
            self.shards[shard].apply.remote(batch, {e.item_id: vectors[e.item_id] for e in batch})
            for shard, batch in by_shard.items()
        ))
        return EventsAccepted(
            received=len(incoming),
            accepted=sum(r.accepted for r in results),
            duplicates=sum(r.duplicates for r in results),
        )

    @api.get("/users/{user_id}/recommendations", response_model=Recommendations)
    async def recommend_for_user(
        self, user_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
    ) -> Recommendations:
        """Top-k items for the user's current interest, without items they already touched:
        from the interest model when one is live and knows the user's items, else from
        the per-event interest vector; a user with no positive event gets popular items."""
        k = k or self.config.serve.default_k
        self._check_k(k)
        profile = await self.shards[shard_of(user_id, len(self.shards))].profile.remote(user_id)
        if self.model is not None:
            query = self.model.query_vector(profile.recent_items, profile.recent_timestamps)
            if query is not None:
                items = self.model.scoring.search(query, k, exclude=profile.seen_items)
                return self._response(
                    "interest-model", items, user_id=user_id, n_events=profile.n_events, model_version=self.interest.tag
                )
        if profile.interest is None:
            items = [item for item in self.popular if item.item_id not in profile.seen_items][:k]
            return self._response("popular", items, user_id=user_id, n_events=profile.n_events)
        items = self.store.search(profile.interest, k, exclude=profile.seen_items)
        return self._response("interest", items, user_id=user_id, n_events=profile.n_events)

    @api.delete("/users/{user_id}", response_model=UserDeleted)
    async def delete_user(
        self, user_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> UserDeleted:
        """Remove the user's state and events from the live store and the event log at once;
        a later recommendation for them is a cold start."""
        self._check_key(x_api_key)
        removed = await self.shards[shard_of(user_id, len(self.shards))].delete_user.remote(user_id)
        return UserDeleted(user_id=user_id, deleted_events=removed)

    @api.post("/recommendations/text", response_model=Recommendations)
    async def recommend_for_text(self, query: TextQuery) -> Recommendations:
        """Items matching free-text interests, e.g. "I like space adventures and old musicals"."""
        self._check_k(query.k)
        if len(query.text) > self.config.serve.max_text_chars:
            raise HTTPException(422, f"text: at most {self.config.serve.max_text_chars} characters")
        vector = await self.query_encoder.embed.remote(query.text)
        return self._response("text", self.store.search(vector, query.k))

    @api.get("/items/{item_id}/similar", response_model=Recommendations)
    async def similar_items(
        self, item_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
    ) -> Recommendations:
        k = k or self.config.serve.default_k
        self._check_k(k)
        if not self.store.vectors([item_id]):
            raise HTTPException(404, f"item_id: {item_id!r} is not in the catalogue")
        return self._response("similar", self.store.similar(item_id, k))

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/version", response_model=VersionInfo)
    async def version(self) -> VersionInfo:
        return VersionInfo(
            encoder=self.live.name, encoder_version=self.live.tag, items_table=self.live.items_table,
            items_table_version=self.store.version, items=self.item_count, user_shards=len(self.shards),
            interest_model=self.interest.tag if self.interest else None,
            scoring_table_version=self.model.scoring.version if self.model else None,
        )
