import math
import random

import pytest

from rec.ab.attribution import attribute
from rec.ab.report import clustered_rate, decide, variant_figures
from rec.ab.variants import CHALLENGER, variant_of
from rec.storage.event_log import LoggedEvent
from rec.storage.impressions import Impression


def test_one_impression_per_user_gives_the_binomial_variance() -> None:
    rate = clustered_rate([(f"u{n}", n % 4 == 0) for n in range(400)])
    assert rate.value == pytest.approx(0.25)
    assert rate.variance == pytest.approx(0.25 * 0.75 / 400 * 400 / 399)


def test_a_rate_of_one_still_has_an_interval() -> None:
    low, high = clustered_rate([(f"u{n}", True) for n in range(100)]).interval
    assert high == 1.0 and 0.95 < low < 0.97  # Wilson's: 0.963


def test_clustered_users_widen_the_interval() -> None:
    # 40 users who click everything or nothing, 10 answers each: 400 answers, but 40 independent units
    units = [(f"u{n}", n % 4 == 0) for n in range(40) for _ in range(10)]
    assert clustered_rate(units).variance > 5 * 0.25 * 0.75 / 400


def simulate(rates: dict[str, float], users: int, seed: int, answers: int = 3):
    """Users split 50/50 who each get `answers` answers and click a shown item with their
    variant's probability, half the time sending the answer's request id."""
    rng = random.Random(seed)
    impressions, events = [], []
    for n in range(users):
        user = f"sim{seed}-{n}"
        variant = variant_of(user, 0.5, f"seed{seed}")
        for a in range(answers):
            at = 1000.0 + 100 * a
            items = tuple(f"i{rng.randrange(500)}" for _ in range(10))
            impressions.append(Impression(f"{user}-{a}", user, "user", variant, f"m/{variant}", items, 0, at))
            if rng.random() < rates[variant]:
                request_id = f"{user}-{a}" if rng.random() < 0.5 else None
                events.append(LoggedEvent(f"e{user}{a}", user, rng.choice(items), "click", at, at + 5, request_id))
    outcomes = attribute(impressions, events, 60.0, ("click",), ("purchase",))
    return variant_figures(outcomes)


def test_a_truly_better_challenger_is_found_and_an_equal_one_rarely() -> None:
    better = simulate({"champion": 0.10, "challenger": 0.20}, users=600, seed=1)
    assert better[CHALLENGER].click_through.value > better["champion"].click_through.value
    decision = decide(better, "click_through", margin=0.02, alpha=0.05, min_impressions=100)
    assert decision.promote and decision.p_value < 0.05 and "wins" in decision.why
    low, high = better[CHALLENGER].click_through.interval
    assert low < 0.20 < high
    promoted = sum(decide(simulate({"champion": 0.15, "challenger": 0.15}, users=200, seed=s),
                          "click_through", 0.0, 0.05, 100).promote for s in range(100))
    assert promoted <= 12  # about alpha = 5% of 100 null tests; 12 is 3 sigma above


def test_the_decision_says_why_it_keeps_the_champion() -> None:
    better = simulate({"champion": 0.10, "challenger": 0.20}, users=600, seed=2)
    assert "margin" in decide(better, "click_through", 0.5, 0.05, 100).why
    assert "too few" in decide(better, "click_through", 0.0, 0.05, 10_000).why
    assert "not significant" in decide(better, "click_through", 0.0, 1e-30, 100).why
    alone = {"champion": better["champion"]}
    refused = decide(alone, "click_through", 0.0, 0.05, 1)
    assert not refused.promote and "challenger" in refused.why and math.isnan(refused.lift)
