"""The interests a free-text query names: "space adventures and old musicals" is two.

Split at "and", commas and the like, minus openings that state no interest of
their own ("I like"), so that each can be ranked alone and the rankings
interleaved (RankingPipeline.search_text). That happens only where the whole
text leaves one out: "wizards, dragons and magic" is one interest, its parts
facets of it, and the whole text ranks it best (scripts/probe_text_queries.py,
docs/quality.md).
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
# An interest is left out when the whole text's top COVER_TOP holds fewer than COVER_NEED of
# the interest's own best COVER_POOL: fixed sizes, so every page of an answer decides alike.
COVER_TOP, COVER_POOL, COVER_NEED = 10, 20, 3


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


def texts_to_embed(text: str, split: bool = True) -> list[str]:
    """`text`, then the interests it names when it names several and `split` (the query
    vector and the interests of RankingPipeline.search_text)."""
    named = interests_in(text) if split else [text]
    return [text, *named] if len(named) > 1 else [text]


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


def leaves_out(whole: Sequence[ScoredItem], own: Sequence[Sequence[ScoredItem]]) -> bool:
    """Whether the whole text's top COVER_TOP (`whole`) holds fewer than COVER_NEED of some
    interest's own best COVER_POOL (`own`, one ranking per interest)."""
    listed = {item.item_id for item in whole[:COVER_TOP]}
    return any(len(listed & {item.item_id for item in ranking[:COVER_POOL]}) < COVER_NEED for ranking in own)
