"""Request and response models of the HTTP API (the recommendation and user-state answers are in
serve/answers.py)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, field_validator

from rec.catalog.schemas import CATEGORY_PATTERN, ID_PATTERN, is_valid_category
from rec.catalog.filters import NO_FILTER, AttributeFilter, is_valid_value, parse_filters
from rec.config import EVENT_TYPES, CatalogConfig, ServeConfig
from rec.errors import BodyTooLargeError, InvalidRequestError
from rec.interest.shard import IncomingEvent
from rec.ranking.strategies import RankRequest
from rec.storage.new_item_log import NewItem

SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
MAX_CATEGORIES = 20
DIVERSITY = ("0 = by score alone, up to 1 = as varied as the candidates allow (maximal marginal "
             "relevance by text similarity); default interest.diversity")
Entry = TypeVar("Entry")


def as_batch(body: Entry | list[Entry], what: str, limit: int) -> list[Entry]:
    """One object or a list of them as a list; 422 if empty, 413 if over `limit`."""
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise InvalidRequestError(f"body: the {what} list is empty")
    if len(batch) > limit:
        raise BodyTooLargeError(f"body: at most {limit} {what}s per request")
    return batch


def rank_request(
    k: int | None, categories: Sequence[str] | None, config: ServeConfig, field: str = "category",
    exclude: frozenset[str] = frozenset(), offset: int = 0, diversity: float = 0.0,
    filters: AttributeFilter = NO_FILTER,
) -> RankRequest:
    """The ranking asked for: k (default serve.default_k) from `offset` on, the categories
    named in `field`, and the attribute filters (parse_filters)."""
    k = config.default_k if k is None else k
    if k > config.max_k:
        raise InvalidRequestError(f"k: must be at most {config.max_k}, got {k}")
    if offset + k > config.max_k:
        raise InvalidRequestError(f"offset: offset + k must be at most {config.max_k}, got {offset} + {k}")
    categories = categories or []
    if len(categories) > MAX_CATEGORIES:
        raise InvalidRequestError(f"{field}: at most {MAX_CATEGORIES} categories, got {len(categories)}")
    bad = [c for c in categories if not is_valid_category(c)]
    if bad:
        raise InvalidRequestError(
            f"{field}: {bad[0]!r} is not a category name (letters, digits, space and "
            "'&_.-/+(), at most 64 characters)")
    return RankRequest(k, frozenset(categories), exclude, offset, diversity, filters)


def query_filters(query: Mapping[str, list[str]], route_params: Collection[str], catalog: CatalogConfig) -> AttributeFilter:
    """The attribute filters among a query string's parameters (name -> its values): every
    parameter that is not one of the route's own; 422 for one that names no declared attribute."""
    return parse_filters({n: v for n, v in query.items() if n not in route_params}, catalog.attributes())


class EventIn(BaseModel):
    """One user event. `timestamp` is unix seconds or ISO 8601 (default: now);
    `event_id` makes a resend idempotent (default: a new id)."""

    model_config = ConfigDict(extra="forbid")

    user_id: SafeId
    item_id: SafeId
    type: EventType
    timestamp: datetime | StrictFloat | None = None  # strict: `true` is not a time
    event_id: SafeId | None = None
    request_id: SafeId | None = Field(None, description="the `request_id` of the answer this event acts on: "
                                                        "it counts as a click or conversion on that answer")

    def to_incoming(self, now: float, config: ServeConfig) -> IncomingEvent:
        """The event as logged: its time in unix seconds, not in the future nor negative."""
        ts = self.timestamp
        seconds = now if ts is None else ts.timestamp() if isinstance(ts, datetime) else float(ts)
        if seconds > now + config.max_future_skew_seconds:
            raise InvalidRequestError(f"timestamp: {seconds:.0f} is in the future (now {now:.0f})")
        if seconds < 0:
            raise InvalidRequestError(f"timestamp: must not be negative, got {seconds}")
        return IncomingEvent(self.event_id or uuid.uuid4().hex, self.user_id, self.item_id, self.type, seconds,
                             self.request_id)


class ItemIn(BaseModel):
    """A brand-new item, e.g. a film released today: its catalogue fields, and the attributes the
    catalogue declares filterable (catalog.filterable) as fields of their own. Its text is
    made with the catalogue's text template (catalog.text_template), as the nightly job does."""

    model_config = ConfigDict(extra="allow")  # the declared attributes; to_new_item refuses others

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

    def to_new_item(self, catalog: CatalogConfig) -> NewItem:
        given = {n: _attribute_value(n, v, catalog.filterable) for n, v in (self.model_extra or {}).items()}
        return NewItem(self.item_id, self.title, self.year, tuple(dict.fromkeys(self.categories)), self.description,
                       attributes=tuple(sorted((n, v) for n, v in given.items() if v is not None)))


def _attribute_value(name: str, value: Any, filterable: Mapping[str, str]) -> Any:
    """A declared attribute's value as posted (None = none); 422 for another field or a wrong type."""
    kind = filterable.get(name)
    if kind is None:
        declared = f"; the declared attributes are {', '.join(sorted(filterable))}" if filterable else ""
        raise InvalidRequestError(f"{name}: not a field of an item{declared}")
    fits = {"int": lambda v: isinstance(v, int), "float": lambda v: isinstance(v, (int, float)) and math.isfinite(v),
            "string": is_valid_value}[kind]
    if value is not None and (isinstance(value, bool) or not fits(value)):
        raise InvalidRequestError(f"{name}: must be {_KIND_NAMES[kind]} or null, got {value!r}")
    return float(value) if kind == "float" and value is not None else value


_KIND_NAMES = {"int": "an integer", "float": "a finite number", "string": "text of 1 to 128 characters"}


def distinct_items(posted: Sequence[ItemIn], catalog: CatalogConfig) -> list[NewItem]:
    """One NewItem per item_id; 422 if one request gives an id twice with different content."""
    items: dict[str, NewItem] = {}
    for item in (p.to_new_item(catalog) for p in posted):
        if items.setdefault(item.item_id, item).content() != item.content():
            raise InvalidRequestError(f"item_id: {item.item_id!r} is given twice with different content")
    return list(items.values())


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
    deleted_stated_interest: bool = Field(description="whether a stated interest was removed too")


class ItemVisibility(BaseModel):
    item_id: str
    hidden: bool = Field(description="whether the item is hidden now: left out of every answer")
    changed: bool = Field(description="false when it already was (nothing written)")


class HiddenItems(BaseModel):
    items: list[str] = Field(description="the hidden item ids, sorted")


class StatedInterestIn(BaseModel):
    """What the user says they like, in their words; an empty text clears it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="e.g. 'horror films with monsters'; '' clears it")

    def cleaned(self, config: ServeConfig) -> str:
        """The text as stored: trimmed ("" = clear), at most serve.max_text_chars."""
        if len(self.text) > config.max_text_chars:
            raise InvalidRequestError(f"text: at most {config.max_text_chars} characters")
        return self.text.strip()


class StatedInterestOut(BaseModel):
    user_id: str
    text: str = Field(description="the user's stated interest ('' = none)")


class TextQuery(BaseModel):
    """Free text to rank for; besides the fields below, the declared attribute filters
    (`{name}_min` / `{name}_max`, or `{name}`: a value or a list of them) as fields of their own."""

    model_config = ConfigDict(extra="allow")  # the attribute filters; to_request refuses others

    text: str = Field(min_length=1, description="free-text interests, e.g. 'slow sci-fi and jazz'")
    k: int = Field(10, ge=1, strict=True)  # strict: `true` or "5" is not a count
    offset: int = Field(0, ge=0, strict=True, description="skip the first `offset` (the next page)")
    diversity: float | None = Field(None, ge=0, le=1, description=DIVERSITY)
    explain: bool = Field(False, strict=True, description="each item's `because`: the text, or the interest it "
                                                          "names, that the item answers, with its cosine")
    categories: list[str] | None = Field(None, description="only items in at least one of these categories")
    year_min: int | None = Field(None, ge=0, le=9999, strict=True, description="only items from this year on")
    year_max: int | None = Field(None, ge=0, le=9999, strict=True, description="only items up to this year")

    def to_request(self, config: ServeConfig, diversity: float, catalog: CatalogConfig) -> RankRequest:
        """The request, at `diversity` (the ingress resolves the default of a missing one)."""
        years = {n: v for n, v in (("year_min", self.year_min), ("year_max", self.year_max)) if v is not None}
        filters = parse_filters({**years, **(self.model_extra or {})}, catalog.attributes())
        request = rank_request(self.k, self.categories, config, "categories", offset=self.offset, diversity=diversity,
                               filters=filters)
        if len(self.text) > config.max_text_chars:
            raise InvalidRequestError(f"text: at most {config.max_text_chars} characters")
        return request


class VersionInfo(BaseModel):
    encoder: str
    encoder_version: str
    items_table: str
    items_table_version: int
    items: int
    # The public name predates "new items"; it stays so that clients keep working.
    fresh_items: int = Field(0, description="new items (POST /items) not in the items table yet")
    user_shards: int
    interest_model: str | None = None
    scoring_table_version: int | None = None
    challenger_model: str | None = Field(None, description="the A/B test's challenger (serve.ab), when one answers")
    challenger_share: float = Field(0.0, description="the share of users the challenger answers")
    filters: dict[str, str] = Field(default_factory=dict, description="the attributes answers can be filtered on, "
                                    "and their kinds: int and float by {name}_min / {name}_max, string by {name}")


class ReloadResult(BaseModel):
    """What POST /admin/reload did: the versions before and after, and whether it swapped."""

    changed: bool
    previous: VersionInfo
    live: VersionInfo
    duration_s: float
