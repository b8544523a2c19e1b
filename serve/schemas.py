"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    timestamp: datetime | float | None = None
    event_id: SafeId | None = None


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
    k: int = Field(10, ge=1)


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


class VersionInfo(BaseModel):
    encoder: str
    encoder_version: str
    items_table: str
    items_table_version: int
    items: int
    user_shards: int
    interest_model: str | None = None
    scoring_table_version: int | None = None
