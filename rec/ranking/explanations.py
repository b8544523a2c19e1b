"""Why an item is in a user's list: the recent items, and the stated interest, without
which its score would fall most.

Leave-one-out: for each of the user's last `recent` distinct positive items (and
their stated interest) the profile is made without it (the per-event vector loses
that item's exact share of the accumulator, rec/interest/rule.py
`recent_coefficients`; the interest model reads the history without it), and the
answering strategy scores the listed items again. (Rebuilding the vector from the
events without that one would also spare the older events one step of decay; the
faithfulness test does that and checks the score still falls.) An item's
reasons are the removals that lower its score, largest first. The score is the
strategy's, before re-rankers; with more than one part (the interest model blended
with the interest vector) each part is standardised over the list as ranked for
the whole profile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rec.interest.profile import UserProfile

# Profiles, item ids -> for each profile, its score parts: (scores (k,), weight).
ScoreParts = Callable[[Sequence[UserProfile], Sequence[str]], list[list[tuple[np.ndarray, float]]]]
_EPS = 1e-8


@dataclass(frozen=True)
class Reason:
    """One thing an item is recommended because of, and how much its score owes to it."""

    item_id: str | None  # a history item, or the item a similar-items query asked about; None = a text
    contribution: float  # the item's score minus its score without this (> 0)
    text: str | None = None  # a free text (or an interest it names) it answers; None = the stated interest


def without_item(profile: UserProfile, item_id: str, vector: np.ndarray | None) -> UserProfile:
    """The profile as if the user had never acted on `item_id` (its text vector `vector`)."""
    keep = [j for j, i in enumerate(profile.recent_items) if i != item_id]
    removed = sum(c for i, c in zip(profile.recent_items, profile.recent_coefficients) if i == item_id)
    interest, norm = profile.interest, profile.interest_norm
    if interest is not None and vector is not None and removed:
        left = norm * np.asarray(interest, np.float64) - removed * np.asarray(vector, np.float64)
        norm = float(np.linalg.norm(left))
        interest = (left / norm).astype(np.float32) if norm > _EPS and keep else None
    pick = lambda values: tuple(values[j] for j in keep) if values else ()  # noqa: E731
    return replace(
        profile, interest=interest, interest_norm=norm, recent_items=pick(profile.recent_items),
        recent_timestamps=pick(profile.recent_timestamps), recent_coefficients=pick(profile.recent_coefficients),
    )


def without_stated(profile: UserProfile) -> UserProfile:
    return replace(profile, stated=None, stated_text="")


def explain(
    score_parts: ScoreParts, profile: UserProfile, item_ids: Sequence[str],
    text_vectors: Callable[[Sequence[str]], dict[str, np.ndarray]], recent: int = 10, max_reasons: int = 3,
) -> list[tuple[Reason, ...]]:
    """Each listed item's reasons (at most `max_reasons`, largest first); `text_vectors` looks
    up the item text vectors of the profile's recent items."""
    candidates = list(dict.fromkeys(reversed(profile.recent_items)))[:recent]  # latest first, distinct
    vectors = text_vectors(candidates) if candidates else {}
    removals: list[tuple[str | None, UserProfile]] = [
        (item, without_item(profile, item, vectors.get(item))) for item in candidates
    ]
    if profile.stated is not None:
        removals.append((None, without_stated(profile)))
    if not removals:
        return [()] * len(item_ids)
    full, *others = score_parts([profile, *(changed for _, changed in removals)], item_ids)
    if len(full) == 1 or len(item_ids) < 2:  # one part, or nothing to standardise over
        scales = [1.0] * len(full)
    else:
        scales = [max(float(np.std(part)), _EPS) for part, _ in full]

    def total(parts: list[tuple[np.ndarray, float]]) -> np.ndarray:
        return sum(weight * part / scale for (part, weight), scale in zip(parts, scales))

    base = total(full)  # (k,)
    drops = np.stack([base - total(parts) for parts in others])  # (R, k)
    reasons = []
    for column in range(len(item_ids)):
        order = np.argsort(-drops[:, column], kind="stable")[:max_reasons]
        reasons.append(tuple(Reason(removals[r][0], float(drops[r, column])) for r in order if drops[r, column] > 0))
    return reasons


def query_reasons(item_vectors: np.ndarray, sources: Sequence[tuple[Reason, np.ndarray]]) -> list[list[Reason]]:
    """Why each answer to a query is listed: the query's sources (the item asked about; the
    text, or each interest it names) it is closest to, up to 3, each with the item's cosine
    to it. The query is its sources alone, so without one the item's score from it is gone:
    the cosine is the leave-one-out fall. `item_vectors` (k, D) and the sources' vectors
    are unit text vectors."""
    if not len(item_vectors) or not sources:
        return [[] for _ in item_vectors]
    cosines = item_vectors @ np.stack([vector for _, vector in sources]).T  # (k, S)
    reasons = [reason for reason, _ in sources]
    return [[replace(reasons[s], contribution=float(row[s])) for s in np.argsort(-row, kind="stable")[:3] if row[s] > 0]
            for row in cosines]
