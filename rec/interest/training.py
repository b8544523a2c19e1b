"""Training loop of :class:`rec.interest.model.InterestEvolutionModel` and its glue to the evaluation harness.

Loss: full softmax cross-entropy over the catalogue at every position of each
training window. Left out of the softmax: items without training data (never
observable, so not negatives) and, with ``exclude_seen``, items already in the
history (the harness and the product never recommend them). The target is the
next item, plus (``future_window`` K > 1) the items 2..K steps ahead with
weight ``future_weight``: ML ratings come in sessions whose order within a
session is arbitrary, so "soon" is a better target than "exactly next".
With ``label_smoothing`` s, each target is trained as (1 - s) that item plus s
spread evenly over the row's candidates (the items not left out).
With ``ema_decay`` > 0 an exponential moving average of the weights is what
gets validated and returned (smoother validation curve, better early stopping).
Early stopping on validation NDCG@10, ranked exactly as the harness does
(:func:`rec.evaluation.metrics.mask_excluded` / :func:`rec.evaluation.metrics.rank_targets`); the best
state is kept.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from rec.evaluation.metrics import ScoreFn, mask_excluded, ndcg_at_k, rank_targets
from rec.interest.loss import softmax_nll
from rec.interest.model import InterestEvolutionModel, SequenceModelConfig, relative_times
from rec.evaluation.splits import IdIndex, LeaveOneOutSplit

logger = logging.getLogger(__name__)


def split_sequences(
    split: LeaveOneOutSplit, item_index: IdIndex, include_valid: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-user chronological item indices and timestamps, one entry per ``split.users.ids``."""
    train_cols = item_index.encode(split.train.item_id)  # (n_train,)
    valid_rows = dict(zip(split.users.encode(split.valid.user_id).tolist(), range(len(split.valid))))
    items, times = [], []
    for u in range(len(split.users)):
        sl = slice(split.train_indptr[u], split.train_indptr[u + 1])
        cols, ts = train_cols[sl], split.train.timestamp[sl].astype(np.float64)
        if include_valid and u in valid_rows:
            r = valid_rows[u]
            cols = np.append(cols, item_index.encode(split.valid.item_id[r : r + 1]))
            ts = np.append(ts, float(split.valid.timestamp[r]))
        items.append(cols)
        times.append(ts)
    return items, times


def valid_target_cols(split: LeaveOneOutSplit, item_index: IdIndex) -> np.ndarray:
    """Validation item index per user (n_users,), -1 for users without one."""
    out = np.full(len(split.users), -1, dtype=np.int64)
    out[split.users.encode(split.valid.user_id)] = item_index.encode(split.valid.item_id)
    return out


def model_score_fn(
    model: InterestEvolutionModel, split: LeaveOneOutSplit, item_index: IdIndex, include_valid: bool
) -> ScoreFn:
    """Harness score function: ``dot(user_vectors(history), item_vectors)`` for each user id."""
    items, times = split_sequences(split, item_index, include_valid)
    item_vecs = model.item_vectors()  # (N, D)

    def score_fn(user_ids: np.ndarray) -> np.ndarray:
        rows = split.users.encode(user_ids)  # (B,)
        user_vecs = model.user_vectors([items[r] for r in rows], [times[r] for r in rows])  # (B, D)
        return user_vecs @ item_vecs.T  # (B, N)

    return score_fn


def validation_ndcg(
    model: InterestEvolutionModel,
    histories: Sequence[np.ndarray],
    times: Sequence[np.ndarray] | None,
    targets: np.ndarray,
    k: int = 10,
) -> float:
    """NDCG@k of ``targets`` (U,) (-1 = skip) given ``histories``, seen items excluded.

    Scored without ``new_item_boost``: early stopping and the promotion gate compare models,
    and the boost is a ranking policy on top of one (chosen by scripts/choose_new_item_boost.py).
    """
    users = np.flatnonzero(targets >= 0)  # (U',)
    hist = [histories[u] for u in users]
    user_vecs = model.user_vectors(hist, None if times is None else [times[u] for u in users])
    scores = (user_vecs @ model.item_vectors(boosted=False).T).astype(np.float64)  # (U', N)
    rows = np.repeat(np.arange(len(users)), [len(h) for h in hist])  # (nnz,)
    cols = np.concatenate(hist) if hist else np.zeros(0, np.int64)
    mask_excluded(scores, rows, cols, targets[users])
    return ndcg_at_k(rank_targets(scores, targets[users]), k)


def _windows(
    sequences: Sequence[np.ndarray], times: Sequence[np.ndarray] | None, config: SequenceModelConfig,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One training window per user with >= 2 events: inputs (n,), targets (n, K), relative times (n,).

    A history longer than ``max_len + 1`` gets a random window of that length.
    Target column ``k`` is the item ``k + 1`` steps ahead (-1 past the end), ``K = future_window``.
    """
    out = []
    for u, seq in enumerate(sequences):
        if len(seq) < 2:
            continue
        end = len(seq) if len(seq) <= config.max_len + 1 else int(rng.integers(config.max_len + 1, len(seq) + 1))
        start = max(0, end - config.max_len - 1)
        rel = np.zeros(end - start - 1, np.float32)
        if times is not None:
            rel = relative_times(times[u][start : end - 1])
        ahead = np.arange(start, end - 1)[:, None] + np.arange(1, config.future_window + 1)  # (n, K)
        targets = np.where(ahead < len(seq), np.asarray(seq)[np.minimum(ahead, len(seq) - 1)], -1)
        out.append((np.asarray(seq[start : end - 1]), targets, rel))
    return out


def _batches(windows: list, config: SequenceModelConfig, n_items: int, rng: np.random.Generator) -> list:
    """Group windows of similar length (less padding) into left-padded (x, y, times) batches (B, L)."""
    lengths = np.array([len(w[0]) for w in windows])  # (U,)
    order = np.argsort(lengths + rng.random(len(lengths)) * 8, kind="stable")  # jittered length sort
    groups = np.array_split(order, max(1, int(np.ceil(len(order) / config.batch_size))))
    batches = []
    for group in groups:
        length = int(lengths[group].max())
        x = np.full((len(group), length), n_items, np.int64)
        y = np.full((len(group), length, config.future_window), -1, np.int64)
        g = np.zeros((len(group), length), np.float32)
        for row, i in enumerate(group):
            n = lengths[i]
            x[row, length - n :], y[row, length - n :], g[row, length - n :] = windows[i]
        batches.append((x, y, g))
    return [batches[i] for i in rng.permutation(len(batches))]


def _seen_mask(x: torch.Tensor, n_items: int) -> torch.Tensor:
    """(B, L, N) bool: item already in the inputs ``x`` (B, L) up to and including each position."""
    b, length = x.shape
    pos = torch.arange(length)
    first = torch.full((b, n_items + 1), length, dtype=torch.long)  # (B, N + 1), pad column last
    first.scatter_reduce_(1, x, pos.expand(b, length), reduce="amin")  # first position of each item
    return first[:, None, :n_items] <= pos[None, :, None]  # (B, L, N), by broadcasting: no gather


def _train_epoch(
    model: InterestEvolutionModel, opt: torch.optim.Optimizer, batches: list, rng: np.random.Generator,
    ema: InterestEvolutionModel | None = None,
) -> float:
    """One pass over ``batches`` of (x, y, times) arrays; returns the mean loss. Updates ``ema`` if given."""
    model.train()
    cfg, losses = model.config, []
    for x, y, g in batches:
        x, y, g = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(g)
        drop = None
        if cfg.adjust_dropout > 0:
            drop = torch.from_numpy(rng.random(model.n_items) < cfg.adjust_dropout)  # (N,)
        table = model.item_table(drop)  # (N, D)
        hidden = model.encode(x, g if model.uses_time else None, table)  # (B, L, d)
        # Every position, padding included (its targets are -1, so it weighs nothing): the length-sorted
        # batches have little padding, and selecting the kept rows would cost a gather of (M, N) masks.
        blocked = ~model.warm  # (N,): items never observed in training are no negatives
        if cfg.exclude_seen:  # as at serving: items already in the history are never candidates
            blocked = (blocked | _seen_mask(x, model.n_items)).flatten(0, 1)  # (B * L, N)
        loss = softmax_nll(model.to_query(hidden).flatten(0, 1), table, blocked, y.flatten(0, 1), cfg.future_weight,
                           cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1.0 - cfg.ema_decay)
        losses.append(loss.item())
    return float(np.mean(losses))


def train_interest_model(
    train_sequences: Sequence[np.ndarray],
    valid_targets: np.ndarray,
    item_text_vectors: np.ndarray,
    config: SequenceModelConfig,
    train_times: Sequence[np.ndarray] | None = None,
    log: Callable[[str], None] | None = None,
    fixed_epochs: int | None = None,
    warm: np.ndarray | None = None,
) -> tuple[InterestEvolutionModel, list[dict]]:
    """Train on per-user chronological item indices; early-stop on validation NDCG@10.

    ``train_sequences[u]`` (n_u,) item indices into ``item_text_vectors`` (N, E);
    ``valid_targets`` (U,) the item following each sequence (-1: none);
    ``train_times[u]`` (n_u,) unix seconds, needed by the time features (``use_time_gaps``, ``time_attention``);
    ``fixed_epochs``: train exactly that many epochs and keep the last state, no validation;
    ``warm`` (N,) bool: the items that get learned adjustments (default: those in the sequences).
    Returns the best model (eval mode) and one dict per epoch.
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    n_items = int(item_text_vectors.shape[0])
    if warm is None:
        warm = np.zeros(n_items, bool)
        warm[np.concatenate([np.asarray(s, np.int64) for s in train_sequences])] = True
    model = InterestEvolutionModel(config, item_text_vectors, warm)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    ema = copy.deepcopy(model) if config.ema_decay > 0 else None  # evaluated and returned if used
    scored = ema if ema is not None else model
    best, best_state, history, t0 = -1.0, None, [], time.perf_counter()
    for epoch in range(fixed_epochs or config.max_epochs):
        batches = _batches(_windows(train_sequences, train_times, config, rng), config, n_items, rng)
        loss = _train_epoch(model, opt, batches, rng, ema)
        if fixed_epochs:
            history.append({"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - t0})
            continue
        ndcg = validation_ndcg(scored.eval(), train_sequences, train_times, valid_targets)
        history.append({"epoch": epoch, "loss": loss, "valid_ndcg10": ndcg, "seconds": time.perf_counter() - t0})
        if log:
            log(f"epoch {epoch:3d} loss {loss:.4f} valid NDCG@10 {ndcg:.4f} ({history[-1]['seconds']:.0f}s)")
        if ndcg > best:
            best, best_state, since_best = ndcg, copy.deepcopy(scored.state_dict()), 0
        else:
            since_best += 1
        if since_best >= config.patience or time.perf_counter() - t0 > config.time_limit_s:
            break
    if best_state is not None:
        scored.load_state_dict(best_state)
    return scored.eval(), history


def fit_on_split(
    split: LeaveOneOutSplit,
    item_index: IdIndex,
    item_text_vectors: np.ndarray,
    config: SequenceModelConfig,
    log: Callable[[str], None] | None = None,
) -> tuple[InterestEvolutionModel, list[dict]]:
    """Train on ``split.train`` with early stopping on ``split.valid`` (columns = ``item_index.ids``).

    With ``config.refit_with_valid``, then train a fresh model on train + valid
    for the best epoch count and return that one: the validation event is each
    user's latest, the most telling about the next. The history's validation
    NDCG@10 stays that of the first model, which never saw the validation
    events; items without train events stay cold in the refit too.
    """
    items, times = split_sequences(split, item_index, include_valid=False)
    targets = valid_target_cols(split, item_index)
    model, history = train_interest_model(items, targets, item_text_vectors, config, times, log)
    if not config.refit_with_valid:
        return model, history
    best_epoch = max(history, key=lambda h: h["valid_ndcg10"])["epoch"]
    items, times = split_sequences(split, item_index, include_valid=True)
    t0 = time.perf_counter()
    model, _ = train_interest_model(
        items, np.full_like(targets, -1), item_text_vectors, config, times, fixed_epochs=best_epoch + 1,
        warm=model.warm.numpy(),
    )
    if log:
        log(f"refit on train + valid: {best_epoch + 1} epochs ({time.perf_counter() - t0:.0f}s)")
    history[-1]["refit_seconds"] = time.perf_counter() - t0
    return model, history
