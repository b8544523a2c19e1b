"""Calibration on real users (Steck 2018, "Calibrated Recommendations"): does a top-10's
category mix match the mix of the user's recent events?

* KL(p || q~): p is the category distribution of the user's last 10 events (an
  item's categories share its one unit of mass), q that of their top-10, and
  q~ = (1 - 0.01) q + 0.01 p keeps it finite. Lower is better calibrated.
* Focused users: those whose last 5 events have at least 4 in one category.
  The top-10 share of that category against how often their next (test)
  item is in it: a ratio near 1 follows the interest as much as people do.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from rec.evaluation.metrics import RankResult
from rec.evaluation.splits import IdIndex, LeaveOneOutSplit

ALPHA = 0.01


def _mix(categories: list[tuple[str, ...]]) -> Counter:
    mass: Counter = Counter()
    for cats in categories:
        for c in cats:
            mass[c] += 1.0 / len(cats)
    total = sum(mass.values())
    return Counter({c: m / total for c, m in mass.items()}) if total else mass


def calibration(result: RankResult, split: LeaveOneOutSplit, item_index: IdIndex,
                item_categories: tuple[tuple[str, ...], ...], recent: int = 10, focus_window: int = 5,
                focus_min: int = 4) -> dict[str, float]:
    """Mean KL over the users of `result` (the test ranking: their history is train then
    valid), and the focused users' top-10 and next-item shares of their category."""
    kls, top_shares, next_hits = [], [], []
    for row, user in enumerate(result.user_ids):
        history = [item_categories[c] for c in item_index.encode(split.history_with_valid(user))]
        p = _mix(history[-recent:])
        if not p:
            continue
        q = _mix([item_categories[c] for c in result.top_k[row, :10]])
        kls.append(sum(pg * np.log(pg / ((1 - ALPHA) * q.get(g, 0.0) + ALPHA * pg)) for g, pg in p.items()))
        counts = Counter(c for cats in history[-focus_window:] for c in cats)
        focus = [c for c, n in counts.most_common(1) if n >= focus_min]
        if focus:
            top_shares.append(np.mean([focus[0] in item_categories[c] for c in result.top_k[row, :10]]))
            next_hits.append(focus[0] in item_categories[result.target_cols[row]])
    top, actual = float(np.mean(top_shares)) if top_shares else float("nan"), float(np.mean(next_hits or [np.nan]))
    return {"KL": float(np.mean(kls)), "focused_users": len(top_shares), "focused_top10_share": top,
            "focused_next_share": actual, "focused_ratio": top / actual if actual else float("nan")}

