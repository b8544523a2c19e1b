"""Validation NDCG@10 against interest-following, for one ranking knob of the `interest` section.

    PYTHONPATH=. .venv/bin/python scripts/sweep_interest_knobs.py text_blend 0 0.25 0.5 1 \
        [--set blend_history=10] [--config configs/base.yaml] [--model /tmp/valid_model]

Needs the embed job. Validation needs a model that never saw the validation
events: the first run trains one with the config's train.model but without
the refit on train + valid (about 3 to 5 minutes on 2 cores) and saves it to
--model; later runs load it. For each value: validation NDCG@10 and HR@10 of
the service's pipeline (rec/ranking/pipeline.py) over the leave-one-out split,
how varied its lists are (intra-list diversity: mean pairwise 1 - cosine of the
items' text vectors; novelty: mean -log2 popularity share; coverage@10),
and the scenario shares (rec/evaluation/scenarios.py), one Markdown row each.

With --new-user-seeds S [S ...] each row also gets the new-user protocol
(rec/evaluation/new_users.py) on those seeds' held-out users, pooled: the
served pipeline's NDCG@10 over the best baseline's at each k. Tune on seeds
other than evaluate.new_user_seeds (those report): 10 and 11, say. One model
per seed is trained on the kept users (about 2 minutes) and saved beside
--model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from rec.config import InterestConfig, load_config
from rec.evaluation.harness import interest_model_scores, load_eval_data, service_pipeline, train_counts
from rec.evaluation.metrics import intra_list_diversity, novelty, rank_users, summarize
from rec.evaluation.new_users import (
    K_VALUES, baseline_methods, held_out_model, new_user_split, pipeline_methods, rank_prefixes,
)
from rec.evaluation.scenarios import run_scenarios
from rec.interest.model import load_model, save_model
from rec.interest.training import fit_on_split
from rec.registry.encoders import resolve_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("knob", help="a key of the interest section, e.g. text_blend or calibration_weight")
    parser.add_argument("values", type=float, nargs="+", help="values to try")
    parser.add_argument("--set", action="append", default=[], help="another interest key=value held fixed")
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--model", default="/tmp/valid_model", help="the train-only model's folder (made if absent)")
    parser.add_argument("--new-user-seeds", type=int, nargs="*", default=[], help="also run the new-user protocol")
    args = parser.parse_args()
    config = load_config(args.config)
    live = resolve_encoder(config.encoder, config.paths)
    data, _ = load_eval_data(config.paths.lancedb_uri, live.items_table, live.items_table_version,
                             config.evaluate.events_path)
    if not Path(args.model, "config.json").exists():
        model, _ = fit_on_split(data.split, data.item_index, data.item_vectors,
                                config.train.model.model_copy(update={"refit_with_valid": False}))
        save_model(model, args.model)
    model = load_model(args.model)
    new_users = [_held_out(data, config, seed, f"{args.model}_new_users_{seed}") for seed in args.new_user_seeds]
    fixed = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    counts = train_counts(data, data.split)
    ks = " | ".join(f"new k={k}" for k in K_VALUES) + " |" if new_users else ""
    print("| setting | valid NDCG@10 | valid HR@10 | intra-list diversity | novelty | coverage@10 "
          "| A after 10 A | B after 10 A + 5 B | B after 10 A + 10 B |" + ks)
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * (len(K_VALUES) if new_users else 0))
    for value in args.values:
        interest = InterestConfig.model_validate({**config.interest.model_dump(), **fixed, args.knob: value})
        scores = interest_model_scores(model, data, data.split, False, interest)
        ranked = rank_users(scores, data.split, data.item_index, "valid")
        valid = summarize(ranked)
        spread = (f"{intra_list_diversity(ranked.top_k, data.item_vectors):.3f} | "
                  f"{novelty(ranked.top_k, counts):.2f} | {valid['coverage@10']:.3f}")
        rows = {(r.likes_a, r.likes_b): r for r in run_scenarios(
            service_pipeline(data, data.split, interest, model), data, counts, interest, config.history_length)}
        setting = ", ".join(f"{k} {v:g}" for k, v in {**fixed, args.knob: value}.items())
        print(f"| {setting} | {valid['NDCG@10']:.4f} | {valid['HR@10']:.4f} | {spread} | {rows[(10, 0)].share_a:.2f} | "
              f"{rows[(10, 5)].share_b:.2f} | {rows[(10, 10)].share_b:.2f} |" + _new_user_ratios(
                  data, config, interest, new_users), flush=True)


def _held_out(data, config, seed: int, folder: str):
    """(the seed's split, its model trained on the kept users (saved to `folder`), the best
    baseline's NDCG@10 gains per k)."""
    split = new_user_split(data.split, config.evaluate.new_user_fraction, seed)
    if not Path(folder, "config.json").exists():
        save_model(held_out_model(data, split, config.train.model), folder)
    baselines = baseline_methods(data, split, config.evaluate.recency_tau)
    best = {k: [_gains(rank_prefixes(score, split, data.item_index, k)) for score in baselines.values()]
            for k in K_VALUES}
    return split, load_model(folder), best


def _gains(ranks):
    return np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)


def _new_user_ratios(data, config, interest, new_users) -> str:
    """Served NDCG@10 / the best baseline's at each k, both pooled over the seeds."""
    if not new_users:
        return ""
    served = {k: [] for k in K_VALUES}
    for split, model, _ in new_users:
        score = pipeline_methods(data, split, interest, config.history_length, model)["served: interest model + pipeline"]
        for k in K_VALUES:
            served[k].append(_gains(rank_prefixes(score, split, data.item_index, k)))
    cells = []
    for k in K_VALUES:
        best = max(np.concatenate([seed_best[k][m] for _, _, seed_best in new_users]).mean()
                   for m in range(len(new_users[0][2][k])))
        cells.append(f"{np.concatenate(served[k]).mean() / best:.2f}x")
    return " " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
