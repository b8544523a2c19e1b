"""The A/B test sections of the project config (rec/config.py): `serve.ab`, the live split, and
`ab_report`, the report job's attribution and decision."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rec.interest.config import EVENT_TYPES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ABTestConfig(_Strict):
    """The live A/B test: the challenger interest model (train.challenger_alias) answers a
    share of users, chosen by a hash of the user id; every answer is logged as an impression."""

    challenger_share: float = Field(ge=0, le=1, description="0 = the champion answers everyone")
    salt: str = Field(min_length=1, description="a new salt puts users into variants afresh, for a new test")
    impressions_flush_s: float = Field(gt=0, description="impressions are written in one batch this often")


class ABReportConfig(_Strict):
    """The A/B report (jobs/ab_report.py): attribution, figures per variant, the decision."""

    experiment: str
    attribution_window_s: float = Field(gt=0, description="an event counts on an answer shown this long before")
    click_types: list[Literal[EVENT_TYPES]]  # type: ignore[valid-type]
    conversion_types: list[Literal[EVENT_TYPES]]  # type: ignore[valid-type]
    metric: Literal["click_through", "conversion", "next_item_hr10"]  # what decides
    margin: float = Field(ge=0, description="the least absolute lift on `metric` that promotes")
    alpha: float = Field(gt=0, lt=1, description="the one-sided significance level")
    min_impressions: int = Field(ge=1, description="per variant, before anything is decided")
    promote: bool  # move the champion alias to a winning challenger (also: --promote)
