"""The HTTP API: FastAPI routes on a Ray Serve ingress deployment.

Routes only: parse (the request models in serve/schemas.py validate), read the
live bundle once (serve/live.py), ask the user's shard for the profile, call
the ranking pipeline (rec/ranking/), shape the answer. Domain errors become
HTTP statuses here, in serve/item_routes.py (the routes that change the
catalogue) and in serve/http.py, nowhere else. (No `from __future__ import
annotations` here: FastAPI must see the real types of the route arguments.)
"""


import asyncio
import hmac
import logging
import pathlib
import time
from dataclasses import replace

import numpy as np

from fastapi import Body, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from rec.ab.variants import CHAMPION
from rec.catalog.schemas import ID_PATTERN
from rec.config import RecConfig
from rec.errors import RecError, UnknownItemError
from rec.ranking.explanations import Reason, query_reasons
from rec.ranking.pipeline import Ranking
from rec.ranking.strategies import RankRequest
from rec.ranking.text_interests import texts_to_embed
from rec.storage.hidden_items import HiddenItemsLog
from serve.answers import Recommendations, UserState
from serve.impressions import ImpressionRecorder
from serve.item_routes import ItemRoutes
from serve.http import CATEGORY_QUERY, DIVERSITY_QUERY, EXPLAIN_QUERY, OFFSET_QUERY, YEAR_MAX_QUERY, YEAR_MIN_QUERY, api
from serve.live import LiveVersion, LiveVersions
from serve.metrics import IngressMetrics
from serve.model_passes import ModelPasses
from serve.new_items import NewItemPlacer
from serve.schemas import (
    EventIn, EventsAccepted, ReloadResult, StatedInterestIn, StatedInterestOut, TextQuery, UserDeleted, VersionInfo,
    as_batch, problem_responses, query_filters, rank_request,
)
from serve.stated_vectors import StatedVectors
from serve.user_state import UserShards

log = logging.getLogger(__name__)

PAGE = pathlib.Path(__file__).with_name("page.html").read_text()  # the demo page: the public API in a browser


def _openapi() -> dict:
    """The spec of the `api` the routes below are on. Serve answers from a pickled copy of it, in
    which FastAPI's "not set" sentinel is no longer itself, so the copy's own spec
    would give every explicit Header/Body/Path/Query parameter a bogus `example: {}`.
    It lives here, not in serve/http.py, so that a replica unpickling it imports this
    module, and with it the routes."""
    return FastAPI.openapi(api)


api.openapi = _openapi
# A route's own query parameters; every other one is an attribute filter (year_min, year_max among them).
_ROUTE_PARAMS = frozenset({"k", "category", "offset", "diversity", "explain"})


def _query(http: Request) -> dict[str, list[str]]:
    return {name: http.query_params.getlist(name) for name in http.query_params.keys()}


@serve.deployment  # resources: serve.ingress, set in serve/app.py
@serve.ingress(api)
class Ingress(ItemRoutes):
    """Routes requests to user shards, the query encoder and the live ranking pipeline
    (the routes that change the catalogue are in serve/item_routes.py)."""

    async def __init__(
        self, config: RecConfig, shards: list[DeploymentHandle], query_encoder: DeploymentHandle,
    ) -> None:
        self.config, self.shards, self.query_encoder = config, UserShards(shards), query_encoder
        self.new_items = NewItemPlacer(config, query_encoder)
        self.stated = StatedVectors(query_encoder)
        self.hidden = HiddenItemsLog(config.paths.new_items_dir)
        self.metrics = IngressMetrics()  # here, in the replica: Serve tags them with it
        self.versions = LiveVersions(config, self.shards, query_encoder, self.new_items, self.metrics)
        await self.versions.start()
        self.impressions = ImpressionRecorder(config)
        self.impressions.start()
        self.model_passes = ModelPasses()  # concurrent requests share the model's forward pass

    def __del__(self) -> None:  # Serve calls it when the replica shuts down: write the last impressions
        if hasattr(self, "impressions"):
            self.impressions.close()

    def _shown(self, request: RankRequest) -> RankRequest:
        """The request without the items hidden now (by any replica: one stat of the log)."""
        return replace(request, exclude=request.exclude | self.hidden.refresh())

    def _answered(
        self, endpoint: str, ranking: Ranking, started: float, live: LiveVersion, request: RankRequest,
        user_id: str | None = None, variant: str = CHAMPION,
    ) -> str:
        """Count the answer and log it as an impression; returns its request id."""
        self.metrics.answered(endpoint, ranking, time.perf_counter() - started, live.pipeline.strategies[0].name)
        model = live.interest.tag if live.interest else None
        return self.impressions.shown(endpoint, user_id, variant, model, ranking, request.offset)

    @staticmethod
    def _query_reasons(live: LiveVersion, ranking: Ranking, sources: list, explain: bool) -> list[list[Reason]] | None:
        """With explain, each answer's `because` from the query's sources (Reason, unit vector)."""
        if not explain:
            return None
        vectors = live.text.vectors([item.item_id for item in ranking.items])
        return query_reasons(np.stack([vectors[item.item_id] for item in ranking.items]) if ranking.items
                             else np.zeros((0, live.store.dim)), sources)

    def _diversity(self, asked: float | None) -> float:
        return self.config.interest.diversity if asked is None else asked

    def _check_key(self, api_key: str | None) -> None:
        expected = self.config.serve.api_key
        # compare_digest: the time taken says nothing about how much of a wrong key was right
        if expected and not hmac.compare_digest((api_key or "").encode(), expected.encode()):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    @api.post(
        "/events", response_model=EventsAccepted, summary="Record one event or a list of events",
        responses=problem_responses(401, 413, 422),
    )
    async def post_events(
        self, body: EventIn | list[EventIn] = Body(...), x_api_key: str | None = Header(None),
    ) -> EventsAccepted:
        self._check_key(x_api_key)
        now = time.time()
        events = [e.to_incoming(now, self.config.serve)
                  for e in as_batch(body, "event", self.config.serve.max_events_per_request)]
        live = await self.versions.current()
        vectors = live.text.vectors([e.item_id for e in events])
        unknown = sorted({e.item_id for e in events} - vectors.keys())
        if unknown:  # nothing is written unless every event is valid
            raise UnknownItemError(unknown)
        result = await self.shards.apply(events, vectors, live.encoder)
        self.metrics.events(result.accepted, result.duplicates)
        return EventsAccepted(received=len(events), accepted=result.accepted, duplicates=result.duplicates)

    @api.get(
        "/users/{user_id}/recommendations", response_model=Recommendations, responses=problem_responses(422, 503),
    )
    async def recommend_for_user(
        self, http: Request, user_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
        category: list[str] | None = CATEGORY_QUERY,
        offset: int = OFFSET_QUERY, diversity: float | None = DIVERSITY_QUERY,
        year_min: int | None = YEAR_MIN_QUERY, year_max: int | None = YEAR_MAX_QUERY,  # checked here, read as filters
        explain: bool = EXPLAIN_QUERY,
    ) -> Recommendations:
        """Top-k items for the user's current interest, without items they already touched:
        from the interest model when one is live and knows the user's items, else from
        the per-event interest vector; a user with no positive event gets popular items.
        A stated interest (PUT /users/{id}/interests) is blended in, the more the fewer
        the user's positive events, so a new user who stated one is answered from it.
        With explain=true each item says why: "because you liked X and Y". Besides year_min and
        year_max, the attributes the catalogue declares filterable (GET /version `filters`) filter
        by `{name}_min` / `{name}_max` (numbers) or `{name}` (text, repeatable: any of them)."""
        started = time.perf_counter()
        filters = query_filters(_query(http), _ROUTE_PARAMS, self.config.catalog)
        request = self._shown(rank_request(k, category, self.config.serve, offset=offset,
                                           diversity=self._diversity(diversity), filters=filters))
        live = await self.versions.current()
        profile = await self.shards.profile(user_id, live.encoder)
        if profile.encoder_version != live.encoder.tag:  # never expected: refuse rather than mix spaces
            raise HTTPException(503, f"user state of {profile.encoder_version}, not the live {live.encoder.tag}")
        profile = await self.stated.attach(profile, live.encoder)
        variant, bundle = live.variant_for(user_id)  # the A/B test's variant (serve.ab): one per user
        await self.model_passes.prefetch(bundle.pipeline, profile)
        ranking = bundle.pipeline.recommend(profile, request)
        shown = dict(request_id=self._answered("user", ranking, started, bundle, request, user_id, variant),
                     variant=variant)
        if not explain:
            return Recommendations.of(ranking, live.encoder.tag, live.store.version, profile, **shown)
        reasons = bundle.pipeline.explain(profile, ranking)
        titles = live.text.titles([r.item_id for its in reasons for r in its if r.item_id])
        return Recommendations.of(ranking, live.encoder.tag, live.store.version, profile, reasons, titles, **shown)

    @api.get("/users/{user_id}", response_model=UserState, responses=problem_responses(422))
    async def user_state(self, user_id: str = Path(pattern=ID_PATTERN)) -> UserState:
        """The user's recent history, dislikes and stated interest, as recommending reads them
        (an unknown user is an empty state: a cold start)."""
        live = await self.versions.current()
        profile = await self.shards.profile(user_id, live.encoder)
        return UserState.of(profile, live.text.titles([*profile.recent_items, *profile.recent_negatives]))

    @api.put(
        "/users/{user_id}/interests", response_model=StatedInterestOut, summary="Set what the user says they like",
        responses=problem_responses(401, 413, 422, 503),
    )
    async def state_interest(
        self, body: StatedInterestIn, user_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> StatedInterestOut:
        """Set the user's stated interest, e.g. {"text": "horror films with monsters"}; an empty
        text clears it. Logged durably (fsynced) before the 2xx and part of the user's state:
        their recommendations follow it at once, and their own events take over as they act."""
        self._check_key(x_api_key)
        text = body.cleaned(self.config.serve)
        if text:
            live = await self.versions.current()
            try:  # embedded before it is logged: a text the encoder cannot take is never stored
                await self.stated.vector(text, live.encoder)
            except Exception as exc:
                log.exception("PUT /users/{id}/interests failed")
                raise HTTPException(503, f"interest not stated, nothing was logged: {exc!r}") from None
        stated = await self.shards.state_interest(user_id, text)
        return StatedInterestOut(user_id=user_id, text=stated.text)

    @api.get("/users/{user_id}/interests", response_model=StatedInterestOut, responses=problem_responses(422))
    async def stated_interest(self, user_id: str = Path(pattern=ID_PATTERN)) -> StatedInterestOut:
        """The user's stated interest ('' when they stated none or cleared it)."""
        return StatedInterestOut(user_id=user_id, text=await self.shards.stated_text(user_id))

    @api.delete("/users/{user_id}", response_model=UserDeleted, responses=problem_responses(401, 422))
    async def delete_user(
        self, user_id: str = Path(pattern=ID_PATTERN), x_api_key: str | None = Header(None),
    ) -> UserDeleted:
        """Remove the user's state, events and stated interest from the live store and the logs
        at once; a later recommendation for them is a cold start."""
        self._check_key(x_api_key)
        forgotten = await self.shards.delete_user(user_id)
        return UserDeleted(user_id=user_id, deleted_events=forgotten.events,
                           deleted_stated_interest=forgotten.stated_interest)

    @api.post("/recommendations/text", response_model=Recommendations, responses=problem_responses(413, 422))
    async def recommend_for_text(self, query: TextQuery) -> Recommendations:
        """Items matching free-text interests, e.g. "I like space adventures and old musicals": by
        the whole text's cosine, or, where that list leaves out an interest the text names, each
        interest's best in turn."""
        started = time.perf_counter()
        request = self._shown(query.to_request(self.config.serve, self._diversity(query.diversity), self.config.catalog))
        live = await self.versions.current()
        texts = texts_to_embed(query.text, self.config.interest.split_text_interests)
        # one forward pass: concurrent calls share the query encoder's batch
        vector, *interests = await asyncio.gather(*(self.query_encoder.embed.remote(t, live.encoder) for t in texts))
        ranking = live.pipeline.search_text(vector, request, interests)
        request_id = self._answered("text", ranking, started, live, request)
        sources = list(zip(texts[1:], interests)) if ranking.by_interests else [(query.text, vector)]
        reasons = self._query_reasons(live, ranking, [(Reason(None, 0.0, text), v) for text, v in sources], query.explain)
        return Recommendations.of(ranking, live.encoder.tag, live.store.version, reasons=reasons, request_id=request_id)

    @api.get("/items/{item_id}/similar", response_model=Recommendations, responses=problem_responses(404, 422))
    async def similar_items(
        self, http: Request, item_id: str = Path(pattern=ID_PATTERN), k: int = Query(None, ge=1),
        category: list[str] | None = CATEGORY_QUERY,
        offset: int = OFFSET_QUERY, diversity: float | None = DIVERSITY_QUERY,
        year_min: int | None = YEAR_MIN_QUERY, year_max: int | None = YEAR_MAX_QUERY,  # checked here, read as filters
        explain: bool = EXPLAIN_QUERY,
    ) -> Recommendations:
        """Items nearest to this one by text, with the filters of /users/{id}/recommendations."""
        started = time.perf_counter()
        filters = query_filters(_query(http), _ROUTE_PARAMS, self.config.catalog)
        request = rank_request(k, category, self.config.serve, exclude=frozenset({item_id}), offset=offset,
                               diversity=self._diversity(diversity), filters=filters)
        request = self._shown(request)
        live = await self.versions.current()
        vector = live.text.vectors([item_id]).get(item_id)
        if vector is None:
            raise HTTPException(404, f"item_id: {item_id!r} is not in the catalogue")
        ranking = live.pipeline.search("similar", live.text, vector, request)
        request_id = self._answered("similar", ranking, started, live, request)
        reasons = self._query_reasons(live, ranking, [(Reason(item_id, 0.0), vector)], explain)
        return Recommendations.of(ranking, live.encoder.tag, live.store.version, reasons=reasons,
                                  titles=live.text.titles([item_id]) if explain else None, request_id=request_id)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(self) -> HTMLResponse:
        """The demo page: pick or make a user, like and dislike items, type an interest."""
        return HTMLResponse(PAGE)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/version", response_model=VersionInfo)
    async def version(self) -> VersionInfo:
        return self.versions.info()

    @api.post("/admin/reload", response_model=ReloadResult, responses=problem_responses(401, 409, 503))
    async def admin_reload(self, x_api_key: str | None = Header(None)) -> ReloadResult:
        """Go live on the versions the aliases name now (encoder@champion with its items
        table, and the interest model), without a redeploy: user states of a new encoder
        are rebuilt from the event log first, then one pointer swaps. Changes nothing if
        the aliases name what is live, or if the new versions cannot be served (409)."""
        self._check_key(x_api_key)
        try:
            return await self.versions.reload()
        except RecError as exc:  # e.g. the champion has no items table, or holds another model's vectors
            raise HTTPException(409, f"not reloaded, the live versions are unchanged: {exc}") from None
        except Exception as exc:  # e.g. a shard could not rebuild: still nothing swapped
            log.exception("reload failed")
            raise HTTPException(503, f"not reloaded, the live versions are unchanged: {exc!r}") from None
