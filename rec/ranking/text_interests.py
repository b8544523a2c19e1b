"""The interests a free-text query names: "space adventures and old musicals" is two.

Split at "and", commas and the like, minus openings that state no interest of
their own ("I like"), so that each can be ranked alone and the rankings
interleaved (RankingPipeline.search_text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rec.storage.items_table import ScoredItem

# Words that join interests, and openings that state no interest of their own.
_JOINS = re.compile(r"\s*(?:[,;/+&]|\band\b|\balso\b|\bplus\b|\bas well as\b)\s*", re.IGNORECASE)
_FILLER = re.compile(
    r"^(?:i\s+(?:really\s+)?(?:like|love|enjoy|want|prefer)|i'?m\s+into|(?:please\s+)?(?:show|give)\s+me"
    r"|something\s+like|some|films?\s+about|movies?\s+about)\b\s*",
    re.IGNORECASE,
)
MAX_INTERESTS = 4


def interests_in(text: str) -> list[str]:
    """The interests `text` names, in its order (at most MAX_INTERESTS); [text] when it
    names one. Each part keeps its own words, minus openings like "I like"."""
    parts = []
    for part in _JOINS.split(text):
        part = _FILLER.sub("", part.strip()).strip(" .!?")
        if part and part.lower() not in {p.lower() for p in parts}:
            parts.append(part)
    if len(parts) < 2:
        return [text]
    return parts[:MAX_INTERESTS]


def interleave(rankings: Sequence[Sequence[ScoredItem]], k: int) -> list[ScoredItem]:
    """Round robin over the interests' rankings, best first, each item once: k items that
    give every interest its turn."""
    merged: dict[str, ScoredItem] = {}
    for position in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if position < len(ranking):
                merged.setdefault(ranking[position].item_id, ranking[position])
            if len(merged) >= k:
                return list(merged.values())
    return list(merged.values())
