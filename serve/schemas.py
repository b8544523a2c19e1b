"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, field_validator

from rec.config import EVENT_TYPES
from rec.storage.new_item_log import NewItem
from rec.catalog.schemas import CATEGORY_PATTERN, ID_PATTERN

SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
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


class ItemIn(BaseModel):
    """A brand-new item, e.g. a film released today: its catalogue fields. Its text is made
    with the catalogue's text template (catalog.text_template), as the nightly job does."""

    model_config = ConfigDict(extra="forbid")

    item_id: SafeId
    title: str = Field(min_length=1, max_length=500)
    year: StrictInt | None = Field(None, ge=0, le=9999)  # strict: "1999" or true is not a year
    categories: list[CategoryName] = Field(default_factory=list, max_length=20)
    description: str | None = Field(None, max_length=5000)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, title: str) -> str:
        if not title.strip():
            raise ValueError("must not be blank")
        return title

    def to_new_item(self) -> NewItem:
        return NewItem(self.item_id, self.title, self.year, tuple(dict.fromkeys(self.categories)), self.description)


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
    409: "a conflict with what exists (the detail says which): an item_id known with other content, "
         "or versions the aliases name that cannot go live; nothing was changed",
    413: "body over serve.max_body_bytes, or more than serve.max_events_per_request events "
         "(serve.max_items_per_request items)",
    422: "a field is malformed or out of range (the detail names it); nothing was written",
    503: "a part of the app (a user shard, the query encoder) failed; nothing was changed",
}


class EventsAccepted(BaseModel):
    received: int
    accepted: int
    duplicates: int


class ItemsAccepted(BaseModel):
    received: int
    added: int = Field(description="items logged now; recommendable at once")
    duplicates: int = Field(description="items already known with exactly this content (nothing written)")
    encoder_version: str = Field(description="the encoder version their vectors were made with")


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
    fresh_items: int = Field(0, description="live-added items not in the items table yet (POST /items)")
    user_shards: int
    interest_model: str | None = None
    scoring_table_version: int | None = None


class ReloadResult(BaseModel):
    """What POST /admin/reload did: the versions before and after, and whether it swapped."""

    changed: bool
    previous: VersionInfo
    live: VersionInfo
    duration_s: float
