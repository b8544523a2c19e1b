"""The training step, against the implementations it replaced, on the same batches.

    python scripts/bench_train_step.py [--batches 10] [--repeats 5] [--threads 2]

Builds training batches from the MovieLens-100k event log (``make data``) exactly as
training does (``configs/train_interest.yaml``; random text vectors: the cost
does not depend on their values), then times, alternating:

1. per batch, the scores + seen-item mask + loss + backward:

   * ``autograd chain``: the first implementation: scores of the kept
     positions, a gathered (M, N) seen mask, masked_fill, logsumexp, gather;
   * ``fused``: :func:`rec.interest.training.softmax_nll` with the broadcast mask;

   and checks that both give the same loss; it also times ``fused`` with the
   config's ``label_smoothing``, for what the smoothing costs;
2. the whole training step (forward, loss, backward, AdamW), dropout on:
   with ``torch.nn.Dropout`` (``bernoulli_`` masks, the baseline) and with
   :class:`rec.interest.model.FastDropout` (``rand_like`` masks).

It prints a Markdown table of medians and the ratios.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import pyarrow.parquet as pq
import torch

from rec.config import load_config
from rec.interest.layers import FastDropout
from rec.interest.model import InterestEvolutionModel
from rec.interest.loss import softmax_nll
from rec.interest.training import _batches, _seen_mask, _train_epoch, _windows, split_sequences
from rec.evaluation.splits import IdIndex, leave_one_out_split


def chain_loss(model, x, y, hidden, table) -> torch.Tensor:
    """The autograd chain the fused loss replaced (kept here as the baseline)."""
    keep = y[..., 0] >= 0  # (B, L)
    logits = model.to_query(hidden[keep]) @ table.T  # (M, N)
    b, length = x.shape
    pos = torch.arange(length).expand(b, length)
    first = torch.full((b, model.n_items + 1), length, dtype=torch.long)
    first.scatter_reduce_(1, x, pos, reduce="amin")
    rows = torch.arange(b)[:, None].expand(b, length)[keep]
    blocked = ~model.warm[None] | (first[rows, : model.n_items] <= pos[keep][:, None])  # (M, N)
    logits = logits.masked_fill_(blocked, float("-inf"))
    targets = y[keep]
    nll = torch.logsumexp(logits, dim=1, keepdim=True) - logits.gather(1, targets.clamp(min=0))  # (M, K)
    weight = torch.full(targets.shape[1:], model.config.future_weight).index_fill(0, torch.tensor([0]), 1.0)
    weight = weight * ((targets >= 0) & torch.isfinite(nll))
    return (nll.nan_to_num(posinf=0.0) * weight).sum() / weight.sum().clamp(min=1e-8)


def fused_loss(model, x, y, hidden, table, smoothing: float = 0.0) -> torch.Tensor:
    blocked = (~model.warm | _seen_mask(x, model.n_items)).flatten(0, 1)  # (B * L, N)
    query = model.to_query(hidden).flatten(0, 1)
    return softmax_nll(query, table, blocked, y.flatten(0, 1), model.config.future_weight, smoothing)


def smoothed_loss(model, x, y, hidden, table) -> torch.Tensor:
    """The fused loss with the config's label smoothing: what it costs on top."""
    return fused_loss(model, x, y, hidden, table, model.config.label_smoothing)


def time_loss(loss_fn, model, batches) -> tuple[float, float]:
    """Seconds for loss + backward over ``batches`` (the encoder's forward is done outside the timer)."""
    total, losses = 0.0, []
    for x, y, g in batches:
        x, y, g = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(g)
        table = model.item_table()
        hidden = model.encode(x, g, table).detach().requires_grad_()
        leaf = table.detach().requires_grad_()
        started = time.perf_counter()
        loss = loss_fn(model, x, y, hidden, leaf)
        loss.backward()
        total += time.perf_counter() - started
        losses.append(loss.item())
    return total, float(np.mean(losses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/train_interest.yaml", help="train config (YAML)")
    parser.add_argument("--batches", type=int, default=10, help="training batches per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per variant (alternating)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    config = load_config(args.config)
    model_config = config.train.model
    torch.set_num_threads(args.threads)
    events = pq.read_table(config.train.events_path)  # written by `make data`
    col = {c: events.column(c).to_numpy(zero_copy_only=False) for c in ("user_id", "item_id", "timestamp", "line")}
    split = leave_one_out_split(col["user_id"], col["item_id"], col["timestamp"], col["line"])
    item_index = IdIndex.from_ids(col["item_id"])
    items, times = split_sequences(split, item_index, include_valid=False)
    rng = np.random.default_rng(0)
    text = rng.normal(size=(len(item_index), 384)).astype(np.float32)
    warm = np.zeros(len(item_index), bool)
    warm[np.concatenate(items)] = True
    torch.manual_seed(0)
    model = InterestEvolutionModel(model_config, text, warm).eval()  # no dropout: both see the same inputs
    batches = _batches(_windows(items, times, model_config, rng), model_config, len(text), rng)[: args.batches]

    timings = {"autograd chain": [], "fused": [], "smoothed": []}
    for _ in range(args.repeats):
        for name, fn in (("autograd chain", chain_loss), ("fused", fused_loss), ("smoothed", smoothed_loss)):
            seconds, loss = time_loss(fn, model, batches)
            timings[name].append(seconds)
            timings.setdefault(f"{name} loss", loss)
    if not np.isclose(timings["autograd chain loss"], timings["fused loss"], rtol=1e-4):
        raise SystemExit(f"losses differ: {timings['autograd chain loss']} vs {timings['fused loss']}")

    slow = with_torch_dropout(model)
    opt = torch.optim.AdamW(model.parameters(), lr=model_config.lr, fused=True)
    slow_opt = torch.optim.AdamW(slow.parameters(), lr=model_config.lr, fused=True)
    steps = {"nn.Dropout": [], "FastDropout": []}
    for _ in range(args.repeats):
        for name, net, optimizer in (("nn.Dropout", slow, slow_opt), ("FastDropout", model, opt)):
            started = time.perf_counter()
            _train_epoch(net, optimizer, batches, rng)
            steps[name].append(time.perf_counter() - started)

    chain, fused = statistics.median(timings["autograd chain"]), statistics.median(timings["fused"])
    torch_drop, fast_drop = statistics.median(steps["nn.Dropout"]), statistics.median(steps["FastDropout"])
    per = 1000 / len(batches)
    print(f"| {len(batches)} batches, {args.threads} threads | median ms per batch |")
    print("|---|---|")
    print(f"| loss + backward: autograd chain (baseline) | {chain * per:.1f} |")
    print(f"| loss + backward: fused softmax NLL | {fused * per:.1f} |")
    print(f"| ratio | {chain / fused:.2f}x |")
    smoothed = statistics.median(timings["smoothed"])
    print(f"| loss + backward: fused, label smoothing {model_config.label_smoothing} | {smoothed * per:.1f} |")
    print(f"| training step: nn.Dropout (baseline) | {torch_drop * per:.1f} |")
    print(f"| training step: FastDropout | {fast_drop * per:.1f} |")
    print(f"| ratio | {torch_drop / fast_drop:.2f}x |")


def with_torch_dropout(model: InterestEvolutionModel) -> InterestEvolutionModel:
    """A copy of ``model`` whose dropout layers are ``torch.nn.Dropout`` (the baseline)."""
    slow = copy.deepcopy(model)
    for module in list(slow.modules()):
        for name, child in module.named_children():
            if isinstance(child, FastDropout):
                setattr(module, name, torch.nn.Dropout(child.p))
    return slow


if __name__ == "__main__":
    main()
