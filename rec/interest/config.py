"""The `interest` section of the project config (rec/config.py): the per-event interest
update (rec/interest/rule.py) and how the ranking pipeline (rec/ranking/) uses it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_TYPES = ("view", "click", "like", "add_to_cart", "purchase", "dislike", "skip")


class InterestConfig(BaseModel):
    """The per-event interest update (rec/interest/rule.py) and how its vector ranks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_weights: dict[str, float]
    half_life_events: float = Field(gt=0, description="weight halves every N events")
    half_life_seconds: float = Field(gt=0, description="and every N seconds")
    # Ranking with the per-event vector: its best `popularity_candidates` items by cosine,
    # re-ranked by cosine + popularity_weight * log(1 + popularity); 0 = cosine alone.
    popularity_weight: float = Field(ge=0)
    popularity_candidates: int = Field(ge=1)
    # Every user strategy's best `dislike_candidates` fall by how close (text cosine above
    # `dislike_floor`) they are to the user's recent dislikes and skips; 0 = off.
    dislike_weight: float = Field(ge=0)
    dislike_floor: float = Field(ge=0, lt=1)
    dislike_candidates: int = Field(ge=1)
    # The interest model blended with this vector: z(model) + text_blend * z(cosine) over the
    # best `blend_candidates` of each; 0 = the model alone.
    text_blend: float = Field(ge=0)
    blend_candidates: int = Field(ge=1)
    blend_history: int = Field(ge=0, description="> 0: text_blend shrinks as blend_history / events beyond it")
    # > 0: text_blend counts by (focus - blend_focus) / (1 - blend_focus), clipped to [0, 1], where
    # focus is the largest share of one category among the recent items (as the vector weighs them),
    # 0 before `focus_min_events` positive events (rec/ranking/strategies.py).
    blend_focus: float = Field(ge=0, lt=1)
    focus_min_events: int = Field(ge=1)
    # Free text (POST /recommendations/text) with the model live: its `text_query_history` nearest
    # items read by the model as a history, z(model) + text_query_blend * z(cosine of the text);
    # text_query_history 0 = the cosine alone (rec/ranking/pipeline.py search_text).
    text_query_history: int = Field(ge=0)
    text_query_blend: float = Field(ge=0)
    # Free text naming several interests ("westerns and cartoons"): when the whole text's top-10
    # leaves one out, each is ranked alone and the rankings interleaved (rec/ranking/text_interests.py).
    split_text_interests: bool
    # A stated interest (rec/interest/stated.py) makes 0.5 ** (positive events / half-life)
    # of the interest vector; with the model live, the blend above gains that share times
    # stated_model_weight.
    stated_half_life_events: float = Field(gt=0)
    stated_model_weight: float = Field(ge=0)
    # The top-k's category mix follows the last `calibration_recent` positive items' (Steck's
    # calibrated re-rank over the best `calibration_candidates`); weight 0 = off, 1 = mix only.
    # The last step of every ranking: maximal marginal relevance over the best
    # `diversity_candidates` by text similarity; a request's `diversity` (default this) in [0, 1].
    diversity: float = Field(ge=0, le=1)
    diversity_candidates: int = Field(ge=1)
    calibration_weight: float = Field(ge=0, le=1)
    calibration_recent: int = Field(ge=1)
    calibration_candidates: int = Field(ge=1)
    # Several interests per user (rec/ranking/multi_interest.py): the last `multi_interest_recent`
    # positive items grouped where their text cosine averages >= multi_interest_join; each group
    # with >= multi_interest_min_share of their weight gets that share of the list, filled from
    # the best `multi_interest_candidates`, ranked by z(cosine to the interest) +
    # multi_interest_strategy_weight * z(the strategy's score). multi_interests: how many at most; 1 = off.
    multi_interests: int = Field(ge=1)
    multi_interest_join: float = Field(ge=-1, le=1)
    multi_interest_min_share: float = Field(gt=0, le=0.5)
    multi_interest_recent: int = Field(ge=2)
    multi_interest_candidates: int = Field(ge=1)
    multi_interest_strategy_weight: float = Field(ge=0)

    @field_validator("event_weights")
    @classmethod
    def _known_types(cls, weights: dict[str, float]) -> dict[str, float]:
        missing = set(EVENT_TYPES) - set(weights)
        unknown = set(weights) - set(EVENT_TYPES)
        if missing or unknown:
            raise ValueError(
                f"event_weights must give exactly the types {list(EVENT_TYPES)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        return weights
