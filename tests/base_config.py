"""The project's configs/base.yaml, loaded once: the values tests start from.

    from base_config import BASE, changed
    changed(BASE.interest, popularity_weight=0.1)  # a validated copy
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from rec.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE = load_config(REPO_ROOT / "configs" / "base.yaml")
Section = TypeVar("Section", bound=BaseModel)


def changed(section: Section, **values) -> Section:
    """`section` with `values` changed, validated again (unknown keys and bad values fail)."""
    return type(section).model_validate({**section.model_dump(), **values})
