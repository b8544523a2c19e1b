"""Tests for rec.interest.model / rec.interest.training on tiny synthetic data."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from base_config import BASE, changed
from rec.interest.model import (
    FastDropout,
    InterestEvolutionModel,
    load_model,
    USER_CHUNK,
    log_time_buckets,
    pad_histories,
    run_positions,
    save_model,
)
from rec.interest.loss import softmax_nll
from rec.interest.training import fit_on_split, train_interest_model, validation_ndcg
from rec.evaluation.splits import IdIndex, leave_one_out_split

N_ITEMS, TEXT_DIM = 12, 16
# The base config's model with its extras off: no boost, smoothing, refit or time features.
PLAIN = changed(BASE.train.model, new_item_boost=0.0, label_smoothing=0.0, refit_with_valid=False,
                use_time_gaps=False, time_attention=False, run_position=False)


def _text(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(N_ITEMS, TEXT_DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)  # (N, E) unit rows, like MiniLM


def _model(**overrides) -> InterestEvolutionModel:
    config = changed(PLAIN, **{"d": 16, "layers": 2, "heads": 2, "max_len": 8, **overrides})
    torch.manual_seed(0)
    warm = np.ones(N_ITEMS, bool)
    warm[-1] = False  # the last item is cold: no training data
    model = InterestEvolutionModel(config, _text(), warm)
    with torch.no_grad():  # non-zero adjustments, so warm and cold items differ
        model.adjust.weight.normal_(std=0.1)
        model.bias_adjust.weight.normal_(std=0.1)
    return model.eval()


def test_shapes_and_bias_dimension() -> None:
    model = _model()
    hist = [np.array([1, 2, 3]), np.array([4]), np.arange(11)]  # lengths 3, 1, 11 (> max_len)
    assert model.item_vectors().shape == (N_ITEMS, 17)  # d + 1: bias folded in
    users = model.user_vectors(hist)
    assert users.shape == (3, 17) and users.dtype == np.float32
    np.testing.assert_array_equal(users[:, -1], 1.0)
    assert model(torch.tensor([[1, 2, 3]])).shape == (1, 3, N_ITEMS)
    assert _model(item_bias=False).item_vectors().shape == (N_ITEMS, 16)


def test_causal_later_items_do_not_change_earlier_outputs() -> None:
    model = _model()
    a = torch.tensor([[N_ITEMS, 1, 2, 3, 4, 5]])  # one padding slot first
    b = a.clone()
    b[0, 4:] = torch.tensor([9, 10])
    with torch.no_grad():
        ha, hb = model.encode(a, None, model.item_table()), model.encode(b, None, model.item_table())
    torch.testing.assert_close(ha[:, :4], hb[:, :4])
    assert not torch.allclose(ha[:, 4:], hb[:, 4:])


def test_user_vectors_dot_item_vectors_equals_model_scores() -> None:
    model = _model()
    hist = [np.array([3, 1, 4, 1, 5]), np.array([2, 7])]
    scores = model.user_vectors(hist) @ model.item_vectors().T  # (2, N)
    items, _ = pad_histories(hist, None, model.config, N_ITEMS)
    with torch.no_grad():
        direct = model(items)[:, -1].numpy()  # (2, N)
    np.testing.assert_allclose(scores, direct, rtol=1e-5, atol=1e-5)
    # Truncation to max_len: only the last max_len events count.
    long = np.arange(20) % 11
    np.testing.assert_allclose(model.user_vectors([long]), model.user_vectors([long[-8:]]), atol=1e-6)


def test_cold_item_vector_is_its_text_projection() -> None:
    model = _model()
    with torch.no_grad():
        text_only = model.project_text(torch.as_tensor(_text())).numpy()  # (N, D)
    vecs = model.item_vectors()
    np.testing.assert_allclose(vecs[-1], text_only[-1], rtol=1e-6, atol=1e-6)  # cold
    assert not np.allclose(vecs[0], text_only[0])  # warm items carry their adjustment


def test_save_load_round_trip(tmp_path) -> None:
    model = _model(use_time_gaps=True)
    hist, times = [np.array([1, 2, 3])], [np.array([0.0, 60.0, 86400.0])]
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.item_vectors(), model.item_vectors())
    np.testing.assert_array_equal(loaded.user_vectors(hist, times), model.user_vectors(hist, times))


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError):
        changed(PLAIN, colour="red")
    with pytest.raises(ValueError):
        changed(PLAIN, d=10, heads=3)


def test_log_time_buckets() -> None:
    buckets = log_time_buckets(torch.tensor([0.0, 1.0, 3.0, 4.0, 1e9, -5.0]), 8)
    np.testing.assert_array_equal(buckets.numpy(), [0, 1, 2, 2, 7, 0])  # same second, 1 s, 3-4 s, capped


def test_run_positions_count_earlier_events_of_the_same_second() -> None:
    times = torch.tensor([[0.0, 0.0, 5.0, 5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]])
    pad = torch.zeros_like(times, dtype=torch.bool)
    pad[0, 0] = True  # padding never joins a run
    np.testing.assert_array_equal(
        run_positions(times, pad).numpy(), [[0, 0, 0, 1, 2, 0, 1], [0, 1, 2, 0, 1, 2, 0]]
    )


@pytest.mark.parametrize("feature", ["use_time_gaps", "time_attention", "run_position"])
def test_time_features_change_the_query_and_only_through_times(feature: str) -> None:
    model = _model(**{feature: True})
    with torch.no_grad():  # a non-zero time embedding / bias, as after training
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    hist = [np.array([1, 2, 3])]
    same_second = model.user_vectors(hist, [np.array([50.0, 100.0, 100.0])])
    shifted = model.user_vectors(hist, [np.array([1050.0, 1100.0, 1100.0])])  # same gaps, other origin
    a_day_apart = model.user_vectors(hist, [np.array([0.0, 86400.0, 172800.0])])  # no two in one second
    np.testing.assert_allclose(same_second, shifted, rtol=1e-5, atol=1e-5)
    assert not np.allclose(same_second, a_day_apart, atol=1e-4)


def test_user_vectors_in_length_sorted_chunks_equal_one_at_a_time() -> None:
    model = _model(use_time_gaps=True, time_attention=True)
    rng = np.random.default_rng(1)
    hists = [rng.integers(0, N_ITEMS, rng.integers(1, 12)) for _ in range(USER_CHUNK + 40)]
    times = [np.sort(rng.integers(0, 10_000, len(h))).astype(np.float64) for h in hists]
    together = model.user_vectors(hists, times)  # (U, D), several chunks, each padded to its longest
    alone = np.concatenate([model.user_vectors([h], [t]) for h, t in zip(hists, times)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    assert model.user_vectors([], []).shape == (0, together.shape[1])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_nll_equals_the_autograd_reference_loss_and_gradients(smoothing: float) -> None:
    gen = torch.Generator().manual_seed(0)
    m, n, d, k = 7, 11, 5, 3
    query = torch.randn(m, d, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    blocked = torch.rand(m, n, generator=gen) < 0.3
    targets = torch.randint(0, n, (m, k), generator=gen)
    targets[0, 1:] = -1  # missing future targets
    blocked[1, targets[1, 0]] = True  # a blocked target is skipped
    blocked[2] = True  # nothing left to rank in this row
    loss = softmax_nll(query, table, blocked, targets, future_weight=0.5, smoothing=smoothing)
    loss.backward()
    fused = (loss.detach(), query.grad.clone(), table.grad.clone())

    query.grad = table.grad = None
    logits = (query @ table.T).masked_fill(blocked, float("-inf"))
    log_p = logits - torch.logsumexp(logits, 1, keepdim=True)  # (M, N)
    nll = -log_p.gather(1, targets.clamp(min=0))  # (M, K)
    uniform_nll = -log_p.masked_fill(blocked, 0.0).sum(1, keepdim=True) / (~blocked).sum(1, keepdim=True)  # (M, 1)
    smoothed = (1 - smoothing) * nll + smoothing * uniform_nll
    weight = torch.tensor([1.0, 0.5, 0.5], dtype=torch.float64) * (targets >= 0) * torch.isfinite(nll)
    ref = (smoothed.nan_to_num(nan=0.0, posinf=0.0) * weight).sum() / weight.sum()
    ref.backward()
    torch.testing.assert_close(fused, (ref.detach(), query.grad, table.grad))
    assert float(weight[1, 0]) == 0.0 and float(weight.sum()) > 0


def test_softmax_nll_skips_a_row_with_every_item_blocked_without_nan() -> None:
    query = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    table = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    blocked = torch.zeros(3, 6, dtype=torch.bool)
    blocked[2] = True  # nothing left to rank in the last row
    targets = torch.tensor([[1], [2], [3]])
    loss = softmax_nll(query, table, blocked, targets, future_weight=0.5)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(table.grad).all()
    assert torch.all(query.grad[2] == 0) and torch.any(query.grad[0] != 0)
    first_two = softmax_nll(query[:2].detach(), table.detach(), blocked[:2], targets[:2], future_weight=0.5)
    torch.testing.assert_close(loss.detach(), first_two)


def test_fast_dropout_keeps_the_expected_value_and_is_off_in_eval() -> None:
    torch.manual_seed(0)
    drop, x = FastDropout(0.3), torch.ones(200_000)
    y = drop.train()(x)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.01 and torch.allclose(y[y != 0], torch.tensor(1 / 0.7))
    assert drop.eval()(x) is x


def test_new_item_boost_raises_only_items_without_training_data() -> None:
    plain = _model()
    boosted = InterestEvolutionModel(changed(plain.config, new_item_boost=0.5), _text(), plain.warm.numpy())
    boosted.load_state_dict(plain.state_dict())
    diff = boosted.item_vectors() - plain.item_vectors()  # (N, D)
    cold = ~plain.warm.numpy()
    np.testing.assert_allclose(diff[cold, -1], 0.5, atol=1e-6)
    np.testing.assert_allclose(np.delete(diff, -1, axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(diff[~cold], 0.0, atol=1e-6)
    new = boosted.new_item_vectors(_text()[:2]) - plain.new_item_vectors(_text()[:2])
    np.testing.assert_allclose(new[:, -1], 0.5, atol=1e-6)
    np.testing.assert_array_equal(boosted.item_vectors(boosted=False), plain.item_vectors())


def test_validation_measures_the_model_without_the_boost() -> None:
    """Early stopping and the gate see the same validation NDCG whatever the boost policy."""
    plain = _model()
    boosted = InterestEvolutionModel(changed(plain.config, new_item_boost=50.0), _text(), plain.warm.numpy())
    boosted.load_state_dict(plain.state_dict())
    rng = np.random.default_rng(1)
    warm_items = np.flatnonzero(plain.warm.numpy())
    histories = [rng.choice(warm_items, size=5, replace=False) for _ in range(20)]
    targets = rng.choice(warm_items, size=20)
    assert validation_ndcg(boosted, histories, None, targets) == validation_ndcg(plain, histories, None, targets)
    # Served, the boost puts the cold item first for everyone: validation would have counted it.
    top = np.argmax(boosted.user_vectors(histories) @ boosted.item_vectors().T, axis=1)
    assert (top == np.flatnonzero(~plain.warm.numpy())).all()


def test_training_learns_successor_pattern() -> None:
    """Item i is always followed by i + 1 (mod 10): top-1 next-item accuracy must be high."""
    rng = np.random.default_rng(0)
    n = 10
    seqs = [(rng.integers(n) + np.arange(int(rng.integers(4, 9)))) % n for _ in range(60)]
    train, valid = [s[:-1] for s in seqs], np.array([s[-1] for s in seqs])
    config = changed(PLAIN, d=16, layers=1, heads=1, dropout=0.0, max_len=8, lr=1e-2,
                                 batch_size=16, max_epochs=30, patience=30, seed=0,
                                 future_window=1, ema_decay=0.0)
    model, history = train_interest_model(train, valid, _text()[:n], config)
    assert len(history) == 30 and history[-1]["loss"] < history[0]["loss"]
    scores = model.user_vectors(train) @ model.item_vectors().T  # (60, n)
    for row, hist in enumerate(train):
        scores[row, hist] = -np.inf  # seen items excluded, as in the harness (no repeats here)
    top1 = np.argmax(scores, axis=1)
    assert np.mean(top1 == valid) >= 0.9
    assert validation_ndcg(model, train, None, valid) >= 0.9


def test_refit_with_valid_retrains_on_valid_events_for_the_best_epoch_count() -> None:
    """The refit model learns from each user's validation event; items seen only there stay cold."""
    rng = np.random.default_rng(1)
    users, items, times = [], [], []
    for u in range(40):
        seq = (int(rng.integers(10)) + np.arange(int(rng.integers(5, 9)))) % 10  # successor pattern
        if u == 0:
            seq = np.append(seq[:-2], [11, seq[-1]])  # item 11 only as user 0's validation event
        users += [u] * len(seq)
        items += seq.tolist()
        times += list(range(len(seq)))
    n = len(users)
    split = leave_one_out_split(np.array(users), np.array(items), np.array(times), np.arange(n))
    item_index = IdIndex(np.arange(N_ITEMS))
    config = changed(PLAIN, d=16, layers=1, heads=1, dropout=0.0, max_len=8, lr=1e-2, batch_size=16,
                                 max_epochs=6, patience=6, future_window=1, ema_decay=0.0, refit_with_valid=True)
    model, history = fit_on_split(split, item_index, _text(), config)
    assert len(history) == 6 and "refit_seconds" in history[-1]
    assert not model.warm[11] and model.warm[:10].all()  # valid-only item 11 stays cold
    first, _ = fit_on_split(split, item_index, _text(), changed(config, refit_with_valid=False))
    assert not np.allclose(model.item_vectors(), first.item_vectors())  # a different, retrained model

