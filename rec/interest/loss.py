"""The training loss of the interest-evolution model: a fused softmax NLL over the
catalogue (rec/interest/training.py explains what is left out of it and why)."""

from __future__ import annotations

import torch


def _target_weights(targets: torch.Tensor, future_weight: float) -> torch.Tensor:
    """(M, K) loss weight of each target: column 0 weighs 1, the rest ``future_weight``, missing (-1) 0."""
    weight = torch.full(targets.shape[1:], future_weight).index_fill(0, torch.tensor([0]), 1.0)  # (K,)
    return weight * (targets >= 0)


class _SoftmaxNLL(torch.autograd.Function):
    """Weighted mean softmax NLL of ``targets`` (M, K) over the scores ``query @ table.T`` (M, N),
    ``blocked`` (broadcastable to (M, N)) left out; targets that are blocked are skipped.

    One fused step instead of autograd's chain (masked_fill, logsumexp, gather): the (M, N)
    scores are the largest tensor of training, so the forward turns them into unnormalised
    probabilities in place and the backward only rescales them: each element is touched a few
    times instead of a dozen.
    """

    @staticmethod
    def forward(
        ctx, query: torch.Tensor, table: torch.Tensor, blocked: torch.Tensor, targets: torch.Tensor,
        weight: torch.Tensor, smoothing: float,
    ) -> torch.Tensor:
        targets = targets.clamp(min=0)  # missing ones (-1) already weigh 0
        logits = query @ table.T  # (M, N)
        allowed = None
        if smoothing:  # the mean of each row's candidate logits, before they are overwritten (in place: no copy)
            n_blocked = blocked.view(torch.uint8).sum(dim=-1, keepdim=True, dtype=logits.dtype)  # 10x a bool sum
            allowed = (logits.shape[1] - n_blocked).clamp(min=1)  # (M, 1), or (1,) for a shared mask
            mean_logit = logits.masked_fill_(blocked, 0.0).sum(dim=1, keepdim=True) / allowed  # (M, 1)
        logits.masked_fill_(blocked, float("-inf"))
        picked = logits.gather(1, targets)  # (M, K), before the scores are overwritten
        top = logits.amax(dim=1, keepdim=True).nan_to_num_(neginf=0.0)  # (M, 1); 0 for an all-blocked row
        probs = logits.sub_(top).exp_()  # (M, N) unnormalised, in place; 0 where blocked
        total = probs.sum(dim=1, keepdim=True)  # (M, 1)
        nll = top + total.log() - picked  # (M, K); inf for blocked targets and all-blocked rows
        if smoothing:  # the target is (1 - s) the item + s spread evenly over the row's candidates
            nll = (1.0 - smoothing) * nll + smoothing * (top + total.log() - mean_logit)
        weight = weight * torch.isfinite(nll)
        norm = weight.sum().clamp(min=1e-8)
        ctx.smoothing = smoothing
        ctx.save_for_backward(query, table, probs, total.clamp(min=1e-30), targets, weight / norm, blocked, allowed)
        return (nll.nan_to_num(posinf=0.0) * weight).sum() / norm

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:
        query, table, probs, total, targets, weight, blocked, allowed = ctx.saved_tensors  # probs is reused
        # d loss / d logits = sum_k w_k (softmax - (1 - s) onehot(t_k) - s candidates / n); softmax is 0 where blocked.
        row_weight = weight.sum(1, keepdim=True)  # (M, 1)
        dlogits = probs.mul_(row_weight * grad / total)  # in place: backward runs once
        if ctx.smoothing:  # minus s / n on the candidates; blocked entries stay 0 (in place: no mask copy)
            dlogits.sub_(ctx.smoothing * row_weight * grad / allowed).masked_fill_(blocked, 0.0)
        dlogits.scatter_add_(1, targets, -(1.0 - ctx.smoothing) * weight * grad)
        return dlogits @ table, dlogits.T @ query, None, None, None, None


def softmax_nll(
    query: torch.Tensor, table: torch.Tensor, blocked: torch.Tensor, targets: torch.Tensor, future_weight: float,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Loss of :class:`_SoftmaxNLL` with :func:`_target_weights`: ``query`` (M, D), ``table`` (N, D);
    ``smoothing``: label smoothing over each row's candidates (the items not blocked)."""
    weight = _target_weights(targets, future_weight).to(query.dtype)
    return _SoftmaxNLL.apply(query, table, blocked, targets, weight, smoothing)
