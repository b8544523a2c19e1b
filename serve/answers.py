"""The API's answers to recommendation and user-state requests: a ranking with each item's
reasons, and what the service holds of a user. (Requests and the other answers are in
serve/schemas.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from rec.interest.profile import UserProfile
from rec.ranking.explanations import Reason
from rec.ranking.pipeline import Ranking


class Because(BaseModel):
    """One reason an item is listed: a history item or the stated interest."""

    item_id: str | None = Field(None, description="the history item (or, for similar items, the item asked about)")
    title: str | None = None
    stated_interest: str | None = Field(None, description="the user's stated interest, when that is the reason")
    text: str | None = Field(None, description="for free text: the text, or the interest it names, the item answers")
    contribution: float = Field(description="how much the item's score falls without it (> 0)")


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    score: float
    categories: list[str]
    year: int | None = None
    attributes: dict[str, int | float | str | None] = Field(
        default_factory=dict, description="the attributes the catalogue declares filterable (catalog.filterable)")
    because: list[Because] | None = Field(None, description="with explain=true: up to 3 reasons, largest first")


class Recommendations(BaseModel):
    request_id: str = Field(description="this answer's id: send it with the events it leads to (POST /events)")
    variant: Literal["champion", "challenger"] = Field(
        "champion", description="the A/B test's variant that answered (serve.ab); a user stays in one")
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

    @classmethod
    def of(
        cls, ranking: Ranking, encoder_version: str, items_table_version: int, profile: UserProfile | None = None,
        reasons: Sequence[Sequence[Reason]] | None = None, titles: dict[str, str] | None = None,
        *, request_id: str, variant: str = "champion",
    ) -> Recommendations:
        """The answer; with `reasons` (one tuple per item), each item's `because`, titled by `titles`."""
        items = [RecommendedItem(item_id=i.item_id, title=i.title, score=i.score, categories=i.categories, year=i.year,
                                 attributes=dict(i.attributes))
                 for i in ranking.items]
        if reasons is not None:
            for item, its_reasons in zip(items, reasons):
                item.because = [_because(r, profile, titles or {}) for r in its_reasons]
        user = {} if profile is None else {
            "user_id": profile.user_id, "n_events": profile.n_events, "user_state_version": profile.encoder_version,
        }
        return cls(request_id=request_id, variant=variant, strategy=ranking.strategy, items=items, encoder_version=encoder_version,
                   items_table_version=items_table_version, model_version=ranking.model_version, **user)


def _because(reason: Reason, profile: UserProfile | None, titles: dict[str, str]) -> Because:
    contribution = round(reason.contribution, 6)
    if reason.text is not None:
        return Because(text=reason.text, contribution=contribution)
    if reason.item_id is None:
        return Because(stated_interest=profile.stated_text if profile else None, contribution=contribution)
    return Because(item_id=reason.item_id, title=titles.get(reason.item_id), contribution=contribution)


class HistoryItem(BaseModel):
    item_id: str
    title: str | None = Field(None, description="absent for an item no longer in the catalogue")


class UserState(BaseModel):
    """What the service holds of a user: what their recommendations are computed from."""

    user_id: str
    n_events: int
    recent: list[HistoryItem] = Field(description="the latest positive events' items, latest first")
    disliked: list[HistoryItem] = Field(description="the latest dislikes and skips, latest first")
    stated_interest: str = Field(description="what the user said they like ('' = nothing)")
    user_state_version: str = Field(description="the encoder version the state is computed in")

    @classmethod
    def of(cls, profile: UserProfile, titles: dict[str, str]) -> UserState:
        def listed(item_ids: Sequence[str]) -> list[HistoryItem]:
            return [HistoryItem(item_id=i, title=titles.get(i)) for i in reversed(item_ids)]

        return cls(user_id=profile.user_id, n_events=profile.n_events, recent=listed(profile.recent_items),
                   disliked=listed(profile.recent_negatives), stated_interest=profile.stated_text,
                   user_state_version=profile.encoder_version)
