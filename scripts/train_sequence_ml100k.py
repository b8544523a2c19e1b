"""Train the interest-evolution model on MovieLens-100k and compare it with baselines.

Protocol: leave-one-out by (timestamp, line), full ranking over the catalogue,
seen items excluded (``rec.evaluation.metrics``). Prints Markdown tables: test metrics of
the model, popularity, item-kNN and the last item's text embedding; then the
cold-item protocol (``cold_item_split``, 10% of items lose their train events):
test HR@10 / NDCG@10 on cold vs warm targets of a model trained on that split.

    .venv/bin/python scripts/train_sequence_ml100k.py --data var/data/ml-100k
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rec.evaluation.baselines import embedding_last_scores, item_knn_scores, popularity_scores
from rec.catalog.movielens import load_movielens
from rec.evaluation.metrics import evaluate_scores, rank_users, summarize
from rec.config import load_config
from rec.interest.model_config import SequenceModelConfig
from rec.interest.model import save_model
from rec.interest.training import fit_on_split, model_score_fn
from rec.evaluation.splits import IdIndex, cold_item_split, leave_one_out_split

COLUMNS = ["HR@10", "HR@20", "NDCG@10", "NDCG@20", "MRR@10", "coverage@10"]


def text_vectors(item_index: IdIndex, lancedb_dir: str, cache: str | None) -> np.ndarray:
    """Text vectors (N, 384) in ``item_index`` order, from a .npy cache or the LanceDB ``items`` table."""
    if cache and Path(cache).is_file():
        return np.load(cache)
    import lancedb  # local: the model itself never touches the vector DB

    rows = lancedb.connect(lancedb_dir).open_table("items").to_arrow()
    ids = np.asarray(rows.column("item_id").to_pylist())
    vecs = np.stack(rows.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
    order = np.argsort(ids, kind="stable")
    out = vecs[order][IdIndex(ids[order]).encode(item_index.ids)]  # (N, 384), item_index order
    if cache:
        np.save(cache, out)
    return out


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="var/data/ml-100k")
    p.add_argument("--lancedb", default="var/lancedb")
    p.add_argument("--vectors-cache", default="/tmp/ml100k_text_vectors.npy")
    p.add_argument("--save", default=None, help="folder to save the trained model into")
    p.add_argument("--skip-baselines", action="store_true")
    p.add_argument("--skip-cold", action="store_true")
    p.add_argument("--only-cold", action="store_true", help="run only the cold-item protocol")
    p.add_argument("--verbose", action="store_true", help="print every epoch")
    p.add_argument("--config", default="configs/train_interest.yaml", help="its train.model is the starting point")
    for name, field in SequenceModelConfig.model_fields.items():
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if field.annotation in (bool, "bool") else float
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=f"override train.model.{name}")
    return p.parse_args()


def table(rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in columns) + " |" for name, m in rows.items()]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    overrides = {name: getattr(args, name) for name in SequenceModelConfig.model_fields if getattr(args, name) is not None}
    config = SequenceModelConfig.model_validate({**load_config(args.config).train.model.model_dump(), **overrides})
    _, events = load_movielens(args.data)
    col = {c: events.column(c).to_numpy(zero_copy_only=False) for c in ("user_id", "item_id", "timestamp", "line")}
    split = leave_one_out_split(col["user_id"], col["item_id"], col["timestamp"], col["line"])
    item_index = IdIndex.from_ids(col["item_id"])
    text = text_vectors(item_index, args.lancedb, args.vectors_cache)
    log = print if args.verbose else None
    print(f"config: {config.model_dump()}")

    if args.only_cold:
        return cold_report(split, item_index, text, config, log)
    t0 = time.perf_counter()
    model, history = fit_on_split(split, item_index, text, config, log)
    seconds = time.perf_counter() - t0
    best = max(history, key=lambda h: h["valid_ndcg10"])
    print(f"trained in {seconds:.0f}s, {len(history)} epochs, best epoch {best['epoch']} "
          f"(valid NDCG@10 {best['valid_ndcg10']:.4f})")
    if args.save:
        save_model(model, args.save)
    valid = evaluate_scores(model_score_fn(model, split, item_index, False), split, item_index, target="valid")
    rows = {"interest-evolution (this)": evaluate_scores(model_score_fn(model, split, item_index, True), split, item_index)}
    if not args.skip_baselines:
        rows["popularity"] = evaluate_scores(popularity_scores(split, item_index), split, item_index)
        rows["item-kNN (k=100)"] = evaluate_scores(item_knn_scores(split, item_index, include_valid=False), split, item_index)
        rows["last item's text embedding"] = evaluate_scores(embedding_last_scores(split, item_index, text), split, item_index)
    print(f"\nTest split (943 users, full ranking). Model valid NDCG@10 {valid['NDCG@10']:.4f}, "
          f"HR@10 {valid['HR@10']:.4f}; training {seconds:.0f}s\n")
    print(table(rows, COLUMNS))
    if not args.skip_cold:
        cold_report(split, item_index, text, config, log)


def cold_report(split, item_index: IdIndex, text: np.ndarray, config: SequenceModelConfig, log) -> None:
    """Train on the cold-reduced split; print test metrics on cold vs warm targets."""
    cold = cold_item_split(split, item_index, fraction=0.1, seed=0)
    t0 = time.perf_counter()
    model, _ = fit_on_split(cold.split, item_index, text, config, log)
    seconds = time.perf_counter() - t0
    result = rank_users(model_score_fn(model, cold.split, item_index, True), cold.split, item_index)
    is_cold = cold.is_cold(cold.split.test.item_id)
    rows = {"all": summarize(result), "cold targets": summarize(result, user_mask=is_cold),
            "warm targets": summarize(result, user_mask=~is_cold)}
    print(f"\nCold items ({len(cold.cold_items)} items cold, {int(is_cold.sum())} cold test targets; "
          f"training {seconds:.0f}s)\n")
    print(table(rows, ["HR@10", "NDCG@10", "HR@20", "NDCG@20"]))
    ratio = rows["cold targets"]["HR@10"] / max(rows["warm targets"]["HR@10"], 1e-12)
    print(f"\ncold / warm HR@10 = {ratio:.3f} (target >= 0.5)")


if __name__ == "__main__":
    main()
