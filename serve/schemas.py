"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StringConstraints

from rec.config import EVENT_TYPES
from rec.schemas import ID_PATTERN

SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class EventIn(BaseModel):
    """One user event. `timestamp` is unix seconds or ISO 8601 (default: now);
    `event_id` makes a resend idempotent (default: a new id)."""

    model_config = ConfigDict(extra="forbid")

    user_id: SafeId
    item_id: SafeId
    type: EventType
    timestamp: datetime | StrictFloat | None = None  # strict: `true` is not a time
    event_id: SafeId | None = None


class Problem(BaseModel):
    """A 4xx reply: `detail` names the field and what was wrong with it. The
    app's own checks give one sentence; request-model validation gives
    FastAPI's list of errors, each with its `loc` (the field) and `msg`."""

    detail: str | list[dict[str, Any]]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry of a route for the 4xx statuses it can answer."""
    return {status: {"model": Problem, "description": _PROBLEM_STATUSES[status]} for status in statuses}


_PROBLEM_STATUSES = {
    401: "missing or wrong X-API-Key header (when serve.api_key is set)",
    404: "the id in the path is not known",
    409: "the versions the aliases name cannot go live (the detail says why); the live ones stay",
    413: "body over serve.max_body_bytes, or more than serve.max_events_per_request events",
    422: "a field is malformed or out of range (the detail names it); nothing was written",
    503: "a part of the app (a user shard, the query encoder) failed; nothing was changed",
}


class EventsAccepted(BaseModel):
    received: int
    accepted: int
    duplicates: int


class UserDeleted(BaseModel):
    user_id: str
    deleted_events: int


class TextQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="free-text interests, e.g. 'slow sci-fi and jazz'")
    k: int = Field(10, ge=1, strict=True)  # strict: `true` or "5" is not a count
    categories: list[str] | None = Field(None, description="only items in at least one of these categories")


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    score: float
    categories: list[str]


class Recommendations(BaseModel):
    strategy: Literal["interest-model", "interest", "popular", "text", "similar"]
    items: list[RecommendedItem]
    encoder_version: str
    items_table_version: int
    model_version: str | None = Field(None, description="the interest model, for strategy interest-model")
    user_id: str | None = None
    n_events: int | None = None
    user_state_version: str | None = Field(
        None, description="the encoder version the user's state was computed in (always encoder_version)"
    )


class VersionInfo(BaseModel):
    encoder: str
    encoder_version: str
    items_table: str
    items_table_version: int
    items: int
    user_shards: int
    interest_model: str | None = None
    scoring_table_version: int | None = None


class ReloadResult(BaseModel):
    """What POST /admin/reload did: the versions before and after, and whether it swapped."""

    changed: bool
    previous: VersionInfo
    live: VersionInfo
    duration_s: float
