"""A fresh user with two interests at once: do both reach their list?

    PYTHONPATH=. .venv/bin/python scripts/probe_mixed_interests.py [--likes 5] \
        [--vary multi_interests 1 2] [--set multi_interest_join=0.6]

Needs `make demo` (or the embed and train jobs). For each category pair of the
scenario table (rec/evaluation/scenarios.py), a new user likes the `--likes` most
popular films of A and of B in turn, a minute apart. The service's pipeline (the
champion, served config) then ranks their top-10. Prints the mean share of A and of B,
the smaller of the two, and the share of pairs where both have at least 3 of the 10,
for each value of one knob of the `interest` section (--vary), others held (--set):
multi_interests (rec/ranking/multi_interest.py) or calibration_weight (Steck's re-rank
towards the recent items' category mix), say.
"""

from __future__ import annotations

import argparse
from itertools import chain

import numpy as np
import yaml

from rec.config import InterestConfig, load_config
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.evaluation.scenarios import PAIRS
from rec.ranking.candidates import vector_matrix
from rec.ranking.strategies import RankRequest
from scripts.champion import champion_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--likes", type=int, default=5, help="likes of each interest")
    parser.add_argument("--vary", nargs="+", default=["multi_interests", "1"], metavar=("KEY", "VALUE"),
                        help="a key of the interest section and the values to try")
    parser.add_argument("--set", action="append", default=[], help="another interest key=value held fixed")
    args = parser.parse_args()
    config = load_config(args.config)
    knob, values = args.vary[0], args.vary[1:]
    fixed = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    print(f"| {knob} | share of A | share of B | smaller share | both >= 3 of 10 |")
    print("|---|---|---|---|---|")
    for value in values:
        interest = InterestConfig.model_validate({**config.interest.model_dump(), **fixed, knob: yaml.safe_load(value)})
        _, store, pipeline = champion_pipeline(config, interest)
        rows = store.rows()
        ids = rows["item_id"].to_pylist()
        categories = dict(zip(ids, (tuple(c or ()) for c in rows["categories"].to_pylist())))
        vectors = dict(zip(ids, vector_matrix(rows)))
        by_popularity = [ids[i] for i in np.argsort(-rows["popularity"].to_numpy(zero_copy_only=False), kind="stable")]
        shares = []
        for a, b in PAIRS:
            liked_a = [i for i in by_popularity if a in categories[i] and b not in categories[i]][:args.likes]
            liked_b = [i for i in by_popularity if b in categories[i] and a not in categories[i]][:args.likes]
            state, now = InterestState.empty(store.dim), 1_000_000.0
            for item in chain.from_iterable(zip(liked_a, liked_b)):  # A, B, A, B, ...
                now += 60.0
                apply_event(state, item, vectors[item], "like", now, config.interest, config.history_length)
            top = pipeline.recommend(user_profile("mixed-user", state), RankRequest(10)).items
            shares.append([np.mean([c in categories[i.item_id] for i in top]) for c in (a, b)])
        shares = np.array(shares)
        smaller = shares.min(axis=1)
        print(f"| {value} | {shares[:, 0].mean():.2f} | {shares[:, 1].mean():.2f} | {smaller.mean():.2f} | "
              f"{(smaller >= 0.3).mean():.2f} |", flush=True)


if __name__ == "__main__":
    main()
