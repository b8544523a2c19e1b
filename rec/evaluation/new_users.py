"""The new-user protocol: users the model never saw, ranked from their first k events.

A seeded share of users is held out of training entirely. Everything is
fitted on the other users (the model is trained on their leave-one-out
split). For each held-out user with more than k events, event k + 1 is
ranked over the catalogue from their first k events, the k items left out,
for k in K_VALUES. Every ML-100k user has at least 20 events, so the
leave-one-out protocol never sees a history this short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rec.config import InterestConfig
from rec.interest.model_config import SequenceModelConfig
from rec.evaluation import baselines
from rec.evaluation.harness import EvalData, pipeline_score_fn, service_pipeline
from rec.evaluation.metrics import rank_targets
from rec.evaluation.splits import HistoryTable, IdIndex, LeaveOneOutSplit, leave_one_out_split
from rec.interest.model import InterestEvolutionModel
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import UserProfile, user_profile
from rec.interest.training import fit_on_split

K_VALUES = (1, 2, 3, 5, 10, 20)
HistoryScores = Callable[[HistoryTable, Sequence[str]], np.ndarray]  # prefixes -> (B, N) scores


@dataclass(frozen=True, eq=False)
class NewUserSplit:
    """The users kept for training (their own leave-one-out split) and the held-out ones' sequences."""

    train: LeaveOneOutSplit
    held_out: dict[str, tuple[np.ndarray, np.ndarray]]  # user -> (items, timestamps), chronological


def new_user_split(split: LeaveOneOutSplit, fraction: float, seed: int) -> NewUserSplit:
    """Hold out `fraction` of the users of `split` (all their events), chosen by `seed`."""
    parts = [split.train, split.valid, split.test]
    users, items, times, lines = (np.concatenate([getattr(p, f) for p in parts])
                                  for f in ("user_id", "item_id", "timestamp", "line"))
    every = np.unique(users)
    held = set(np.random.default_rng(seed).choice(every, size=round(fraction * len(every)), replace=False).tolist())
    out = np.isin(users, list(held))
    kept = leave_one_out_split(users[~out], items[~out], times[~out], lines[~out])
    order = np.lexsort((lines[out], times[out], users[out]))  # by user, then (timestamp, line)
    sequences: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for user in sorted(held):
        rows = order[users[out][order] == user]
        sequences[str(user)] = (items[out][rows].astype(str), times[out][rows].astype(np.float64))
    return NewUserSplit(kept, sequences)


def prefix_cases(split: NewUserSplit, k: int, item_index: IdIndex) -> tuple[HistoryTable, list[str], np.ndarray]:
    """The held-out users with more than k events: their first k items as a history table (one
    pseudo-user "user|k" each), those ids, and the column (B,) of their event k + 1."""
    cases = sorted((f"{user}|{k}", seq) for user, seq in split.held_out.items() if len(seq[0]) > k)
    ids = [case for case, _ in cases]
    index = IdIndex(np.asarray(ids))  # sorted and unique, as IdIndex needs
    cols = np.concatenate([item_index.encode(seq[0][:k]) for _, seq in cases]) if cases else np.zeros(0, int)
    indptr = np.arange(len(cases) + 1, dtype=np.int64) * k
    targets = item_index.encode(np.asarray([seq[0][k] for _, seq in cases])) if cases else np.zeros(0, int)
    return HistoryTable(index, indptr, cols), ids, targets


def rank_prefixes(score: HistoryScores, split: NewUserSplit, item_index: IdIndex, k: int) -> np.ndarray:
    """0-based rank (B,) of each case's event k + 1, the first k items excluded."""
    table, ids, targets = prefix_cases(split, k, item_index)
    if not ids:
        return np.zeros(0, dtype=np.int64)
    scores = np.array(score(table, ids), dtype=np.float64)  # (B, N)
    rows, cols, _, _ = table.gather(np.asarray(ids))
    keep = scores[np.arange(len(ids)), targets].copy()
    scores[rows, cols] = -np.inf
    scores[np.arange(len(ids)), targets] = keep  # a target repeating a history item still counts
    return rank_targets(scores, targets)


def prefix_profiles(split: NewUserSplit, data: EvalData, config: InterestConfig,
                    history_length: int) -> Callable[[str], UserProfile]:
    """"user|k" -> the profile the service would hold after the user's first k events as likes."""
    columns = {str(item): col for col, item in enumerate(data.item_index.ids)}

    def profile_of(case: str) -> UserProfile:
        user, k = case.rsplit("|", 1)
        items, times = split.held_out[user]
        state = InterestState.empty(data.item_vectors.shape[1])
        for item, ts in zip(items[: int(k)], times[: int(k)]):
            apply_event(state, str(item), data.item_vectors[columns[str(item)]], "like", float(ts), config,
                        history_length)
        return user_profile(case, state)

    return profile_of


def held_out_model(data: EvalData, split: NewUserSplit, model_config: SequenceModelConfig) -> InterestEvolutionModel:
    """The interest model trained on the kept users (no refit: the early-stopped model)."""
    model, _ = fit_on_split(split.train, data.item_index, data.item_vectors,
                            model_config.model_copy(update={"refit_with_valid": False}))
    return model


def baseline_methods(data: EvalData, split: NewUserSplit, recency_tau: float) -> dict[str, HistoryScores]:
    """The baselines, fitted on the kept users."""
    n, vectors = len(data.item_index), data.item_vectors
    counts = np.bincount(data.item_index.encode(split.train.train.item_id), minlength=n).astype(np.float32)
    similarity = baselines.item_cosine_similarity(split.train, data.item_index)
    transitions = baselines.markov_transitions(split.train, data.item_index)
    return {
        "popularity": lambda table, ids: np.tile(counts, (len(ids), 1)),
        "item-kNN": lambda table, ids: baselines.history_weights(table, np.asarray(ids), n) @ similarity,
        "Markov chain (last item)": lambda table, ids: baselines.history_weights(
            table, np.asarray(ids), n, "last") @ transitions,
        f"text: recency-weighted (tau {recency_tau:g})": lambda table, ids: (baselines.history_weights(
            table, np.asarray(ids), n, "recency", recency_tau) @ vectors) @ vectors.T,  # (B, E) @ (E, N)
    }


def pipeline_methods(data: EvalData, split: NewUserSplit, interest: InterestConfig, history_length: int,
                     model: InterestEvolutionModel) -> dict[str, HistoryScores]:
    """The per-event rule alone, and the served pipeline with `model` (trained on the kept users)."""
    profiles = prefix_profiles(split, data, interest, history_length)
    rule = pipeline_score_fn(service_pipeline(data, split.train, interest), profiles, data.item_index)
    served = pipeline_score_fn(service_pipeline(data, split.train, interest, model), profiles, data.item_index)
    return {
        "live per-event rule (serve fallback)": lambda table, ids: rule(np.asarray(ids)),
        "served: interest model + pipeline": lambda table, ids: served(np.asarray(ids)),
    }


def methods(data: EvalData, split: NewUserSplit, interest: InterestConfig, model_config: SequenceModelConfig,
            recency_tau: float) -> dict[str, HistoryScores]:
    """Baselines fitted on the kept users, the per-event rule, and the served pipeline with a
    model trained on the kept users."""
    model = held_out_model(data, split, model_config)
    return {**baseline_methods(data, split, recency_tau),
            **pipeline_methods(data, split, interest, model_config.max_len, model)}


def summarise(ranks: np.ndarray) -> dict[str, float]:
    """HR@10 and NDCG@10 with the half-width of their 95% normal intervals."""
    hit = (ranks < 10).astype(float)
    gain = np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)
    half = lambda x: 1.96 * float(x.std(ddof=1)) / np.sqrt(len(x)) if len(x) > 1 else float("nan")  # noqa: E731
    return {"HR@10": float(hit.mean()), "HR@10 +-": half(hit), "NDCG@10": float(gain.mean()),
            "NDCG@10 +-": half(gain), "cases": len(ranks)}


def new_user_table(results: dict[str, dict[int, dict[str, float]]]) -> str:
    """Rows k; per method NDCG@10 +- its interval; last, served over the best baseline."""
    names = list(results)
    served = [n for n in names if n.startswith("served")]
    others = [n for n in names if not n.startswith("served")]
    header = ["k", "cases", *names, "served / best other"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for k in sorted(results[names[0]]):
        row = [str(k), str(results[names[0]][k]["cases"])]
        row += [f"{results[n][k]['NDCG@10']:.4f} +- {results[n][k]['NDCG@10 +-']:.4f}" for n in names]
        best = max(results[n][k]["NDCG@10"] for n in others) if others else float("nan")
        row.append(f"{results[served[0]][k]['NDCG@10'] / best:.2f}x" if served and best > 0 else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
