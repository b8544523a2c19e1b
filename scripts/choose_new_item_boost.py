"""Choose ``new_item_boost`` on validation, pooled over several cold-item splits.

For each seed, a cold split (``cold_item_split``: 10% of items lose their
training events) and a model of the training config's hyper-parameters,
trained on it with early stopping (train events only, no refit: the
validation events stay unseen). Each boost is then applied to the model's
cold items and the validation targets ranked exactly as the harness does.
Hits are pooled over the seeds: one split has about 100 cold validation
targets, so one split's cold HR@10 moves by 0.01 per hit (too noisy to
choose a knob on). Prints a Markdown table and the smallest boost whose
pooled cold / warm HR@10 reaches ``--target-ratio``. Test targets are never
looked at.

    .venv/bin/python scripts/choose_new_item_boost.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rec.config import load_config
from rec.catalog.movielens import load_movielens
from rec.evaluation.metrics import rank_users, summarize
from rec.interest.training import fit_on_split, split_sequences
from rec.evaluation.splits import IdIndex, cold_item_split, leave_one_out_split
from scripts.train_sequence_ml100k import text_vectors

BOOSTS = (0.0, 0.25, 0.5, 0.75, 0.85, 1.0, 1.25, 1.5)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/train_interest.yaml", help="its train.model is the model config")
    p.add_argument("--data", default="var/data/ml-100k")
    p.add_argument("--lancedb", default="var/lancedb")
    p.add_argument("--vectors-cache", default=None, help=".npy cache of the item text vectors")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="cold-split seeds")
    p.add_argument("--fraction", type=float, default=0.1, help="share of items made cold")
    p.add_argument("--boosts", type=float, nargs="+", default=list(BOOSTS))
    p.add_argument("--target-ratio", type=float, default=0.5)
    return p.parse_args()


def validation_hits(model, split, item_index: IdIndex, is_cold_item: np.ndarray, boosts) -> dict[float, dict]:
    """Per boost: hits and counts of cold / warm validation targets, and validation NDCG@10."""
    items, times = split_sequences(split, item_index, include_valid=False)
    item_vecs = model.item_vectors(boosted=False)  # (N, D)
    new = ~model.warm.numpy()  # (N,) the items the model has no training data for
    rows = split.users.encode(split.valid.user_id)
    # Query vectors once, for every boost: user id -> (D,)
    user_vecs = dict(zip(split.valid.user_id, model.user_vectors([items[r] for r in rows], [times[r] for r in rows])))

    def score_fn_for(boost: float):
        vecs = item_vecs.copy()
        vecs[new, -1] += boost  # the bias coordinate, as InterestEvolutionModel._boosted does
        return lambda user_ids: np.stack([user_vecs[u] for u in user_ids]) @ vecs.T  # (B, N)

    out = {}
    cold_target = is_cold_item[item_index.encode(split.valid.item_id)]  # (U,) in rank_users' order
    for boost in boosts:
        result = rank_users(score_fn_for(boost), split, item_index, target="valid")
        hits = result.ranks < 10
        out[boost] = {"cold_hits": int(hits[cold_target].sum()), "cold_n": int(cold_target.sum()),
                      "warm_hits": int(hits[~cold_target].sum()), "warm_n": int((~cold_target).sum()),
                      "ndcg": summarize(result)["NDCG@10"]}
    return out


def main() -> None:
    args = parse_args()
    model_config = load_config(args.config).train.model
    # Early-stopped only (no refit on validation events), and no boost while training and validating.
    model_config = model_config.model_copy(update={"refit_with_valid": False, "new_item_boost": 0.0})
    _, events = load_movielens(args.data)
    col = {c: events.column(c).to_numpy(zero_copy_only=False) for c in ("user_id", "item_id", "timestamp", "line")}
    split = leave_one_out_split(col["user_id"], col["item_id"], col["timestamp"], col["line"])
    item_index = IdIndex.from_ids(col["item_id"])
    text = text_vectors(item_index, args.lancedb, args.vectors_cache)
    pooled = {b: {"cold_hits": 0, "cold_n": 0, "warm_hits": 0, "warm_n": 0, "ndcg": []} for b in args.boosts}
    for seed in args.seeds:
        t0 = time.perf_counter()
        cold = cold_item_split(split, item_index, fraction=args.fraction, seed=seed)
        model, history = fit_on_split(cold.split, item_index, text, model_config)
        is_cold_item = cold.is_cold(item_index.ids)  # (N,)
        for boost, part in validation_hits(model, cold.split, item_index, is_cold_item, args.boosts).items():
            for key in ("cold_hits", "cold_n", "warm_hits", "warm_n"):
                pooled[boost][key] += part[key]
            pooled[boost]["ndcg"].append(part["ndcg"])
        print(f"seed {seed}: {len(history)} epochs in {time.perf_counter() - t0:.0f}s, "
              f"{pooled[args.boosts[0]]['cold_n']} cold validation targets so far", flush=True)
    print(f"\nValidation, pooled over cold seeds {args.seeds}:\n")
    print("| new_item_boost | cold HR@10 | warm HR@10 | cold / warm | NDCG@10, all (mean) |")
    print("|---|---|---|---|---|")
    chosen = None
    for boost, p in pooled.items():
        cold_hr, warm_hr = p["cold_hits"] / p["cold_n"], p["warm_hits"] / p["warm_n"]
        ratio = cold_hr / max(warm_hr, 1e-12)
        if chosen is None and ratio >= args.target_ratio:
            chosen = boost
        print(f"| {boost:g} | {cold_hr:.4f} ({p['cold_hits']}/{p['cold_n']}) | {warm_hr:.4f} | {ratio:.2f} "
              f"| {np.mean(p['ndcg']):.4f} |")
    print(f"\nsmallest boost with cold / warm >= {args.target_ratio}: {chosen}")


if __name__ == "__main__":
    main()
