from rec.ab.variants import CHALLENGER, CHAMPION, bucket, variant_of


def test_a_user_stays_in_one_variant_and_the_share_holds() -> None:
    users = [f"user-{n}" for n in range(4000)]
    first = [variant_of(u, 0.3, "salt") for u in users]
    assert first == [variant_of(u, 0.3, "salt") for u in users]  # stable across calls (and processes: sha256)
    share = first.count(CHALLENGER) / len(users)
    assert 0.27 < share < 0.33


def test_a_larger_share_only_moves_users_into_the_challenger() -> None:
    users = [f"u{n}" for n in range(1000)]
    at_10 = {u for u in users if variant_of(u, 0.1, "s") == CHALLENGER}
    at_50 = {u for u in users if variant_of(u, 0.5, "s") == CHALLENGER}
    assert at_10 < at_50


def test_no_share_anonymous_and_a_new_salt() -> None:
    assert {variant_of(f"u{n}", 0.0, "s") for n in range(100)} == {CHAMPION}
    assert variant_of(None, 1.0, "s") == CHAMPION
    assert {variant_of(f"u{n}", 1.0, "s") for n in range(100)} == {CHALLENGER}
    moved = sum((bucket(f"u{n}", "a") < 0.5) != (bucket(f"u{n}", "b") < 0.5) for n in range(1000))
    assert 400 < moved < 600  # a new salt reshuffles users independently
