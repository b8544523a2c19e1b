"""Per-variant figures of an A/B test with confidence intervals, and whether the
challenger wins.

A user sees many answers, and their clicks are not independent of one another, so
rates are ratios over users' impressions: the variance is the delta method's over
users (each user one cluster; an answer for no user its own), not the binomial
one over impressions, which would be too narrow.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rec.ab.attribution import Outcome
from rec.ab.variants import CHALLENGER, CHAMPION

Z95 = 1.959964
METRICS = ("click_through", "conversion", "next_item_hr10")


@dataclass(frozen=True)
class Rate:
    """successes / trials with the variance of that ratio over users."""

    successes: int
    trials: int
    variance: float

    @property
    def value(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% confidence interval: the normal one of the clustered variance, widened to
        Wilson's score interval where that is wider (a rate of 0 or 1 has no variance to
        speak of, but is not known exactly); within [0, 1]."""
        if self.trials == 0:
            return 0.0, 1.0
        half = Z95 * math.sqrt(self.variance)
        low, high = wilson(self.successes, self.trials)
        return max(0.0, min(low, self.value - half)), min(1.0, max(high, self.value + half))


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a binomial rate."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def clustered_rate(units: Sequence[tuple[str, bool]]) -> Rate:
    """The rate over (cluster, success) pairs: r = sum x / sum n, and
    var(r) = C / (C - 1) * sum_c (x_c - r n_c)^2 / (sum n)^2 over the C clusters."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cluster, success in units:
        counts[cluster][0] += success
        counts[cluster][1] += 1
    trials = len(units)
    successes = sum(x for x, _ in counts.values())
    clusters = len(counts)
    if trials == 0 or clusters < 2:
        # one user alone says nothing about users: the largest variance a rate can have
        return Rate(successes, trials, float("inf") if trials == 0 else 0.25)
    rate = successes / trials
    spread = sum((x - rate * n) ** 2 for x, n in counts.values())
    return Rate(successes, trials, clusters / (clusters - 1) * spread / trials**2)


@dataclass(frozen=True)
class VariantFigures:
    variant: str
    model_version: str | None
    impressions: int
    users: int
    click_through: Rate
    conversion: Rate
    next_item_hr10: Rate  # over the impressions followed by a next positive event

    def summary(self) -> dict:
        figures: dict = {"variant": self.variant, "model_version": self.model_version,
                         "impressions": self.impressions, "users": self.users}
        for metric in METRICS:
            rate: Rate = getattr(self, metric)
            low, high = rate.interval
            figures[metric] = {"value": round(rate.value, 6), "ci95": [round(low, 6), round(high, 6)],
                               "successes": rate.successes, "trials": rate.trials}
        return figures


def variant_figures(outcomes: Sequence[Outcome]) -> dict[str, VariantFigures]:
    """The figures of each variant that answered, from its user-route impressions."""
    by_variant: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.impression.route == "user":
            by_variant[outcome.impression.variant].append(outcome)
    return {variant: _figures(variant, its) for variant, its in by_variant.items()}


def _figures(variant: str, outcomes: Sequence[Outcome]) -> VariantFigures:
    def rate(success: Callable[[Outcome], bool], among: Sequence[Outcome]) -> Rate:
        return clustered_rate([(o.impression.user_id or o.impression.request_id, success(o)) for o in among])

    followed = [o for o in outcomes if o.next_item_hit is not None]
    versions = {o.impression.model_version for o in outcomes}
    return VariantFigures(
        variant, versions.pop() if len(versions) == 1 else None, len(outcomes),
        len({o.impression.user_id for o in outcomes}),
        rate(lambda o: o.clicked, outcomes), rate(lambda o: o.converted, outcomes),
        rate(lambda o: bool(o.next_item_hit), followed),
    )


@dataclass(frozen=True)
class Decision:
    promote: bool
    why: str
    lift: float  # challenger - champion on the metric
    p_value: float  # one-sided: that the challenger is no better


def decide(
    figures: dict[str, VariantFigures], metric: str, margin: float, alpha: float, min_impressions: int,
) -> Decision:
    """Promote the challenger only if it beats the champion on `metric` by at least `margin`
    (absolute), with a one-sided p-value below `alpha`, each variant having at least
    `min_impressions`. `why` says which condition decided."""
    champion, challenger = figures.get(CHAMPION), figures.get(CHALLENGER)
    if champion is None or challenger is None:
        missing = CHAMPION if champion is None else CHALLENGER
        return Decision(False, f"no impressions of the {missing}: nothing to compare", float("nan"), float("nan"))
    a, b = getattr(champion, metric), getattr(challenger, metric)
    lift = b.value - a.value
    spread = math.sqrt(a.variance + b.variance)
    p_value = 0.5 * math.erfc((lift / spread) / math.sqrt(2)) if spread > 0 else (0.0 if lift > 0 else 1.0)
    said = (f"{metric}: challenger {b.value:.4f} vs champion {a.value:.4f} "
            f"(lift {lift:+.4f}, one-sided p {p_value:.2g}, {challenger.impressions} vs {champion.impressions} impressions)")
    if min(champion.impressions, challenger.impressions) < min_impressions:
        return Decision(False, f"too few impressions (fewer than {min_impressions}); {said}", lift, p_value)
    if lift < margin:
        return Decision(False, f"the lift is below the margin {margin}; {said}", lift, p_value)
    if p_value >= alpha:
        return Decision(False, f"not significant at alpha {alpha}; {said}", lift, p_value)
    return Decision(True, f"the challenger wins; {said}", lift, p_value)
