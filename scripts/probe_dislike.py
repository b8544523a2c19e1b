"""How far the items most like a disliked one fall, with the live champion, per dislike weight.

    PYTHONPATH=. .venv/bin/python scripts/probe_dislike.py [--config configs/base.yaml] [--users 30]

Needs `make demo` (or the embed and train jobs) first. Each trial is a fresh
user who likes 5 of the 300 most-listed items, then dislikes the top item of
their list; the 5 unseen items whose text is closest to it are followed from
the list before the dislike to the list after (top 100, through the service's
ranking pipeline). The same users for every weight. Prints one line per weight.
"""

from __future__ import annotations

import argparse

import numpy as np

from rec.config import RecConfig, load_config
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.strategies import RankRequest
from scripts.champion import champion_pipeline


def probe(config: RecConfig, weight: float, users: int) -> str:
    _, store, pipeline = champion_pipeline(config, config.interest.model_copy(update={"dislike_weight": weight}))
    pool = [item.item_id for item in store.popular(300)]
    rng = np.random.default_rng(0)
    moves, kept = [], []
    for _ in range(users):
        state = InterestState.empty(store.dim)
        liked = [str(i) for i in rng.choice(pool, size=5, replace=False)]
        for n, (item, vector) in enumerate(store.vectors(liked).items()):
            apply_event(state, item, vector, "like", 1000.0 + n, config.interest, config.history_length)
        before = [i.item_id for i in pipeline.recommend(user_profile("u", state), RankRequest(100)).items]
        disliked = store.vectors([before[0]])[before[0]]
        apply_event(state, before[0], disliked, "dislike", 2000.0, config.interest, config.history_length)
        after = [i.item_id for i in pipeline.recommend(user_profile("u", state), RankRequest(100)).items]
        vectors = store.vectors(before[1:])
        nearest = sorted(before[1:], key=lambda i: -float(vectors[i] @ disliked))[:5]
        moves += [(before.index(i), after.index(i) if i in after else 100) for i in nearest]
        kept.append(len(set(before[1:11]) & set(after[:10])))
    was, now = np.array(moves).T
    return (f"| {weight:g} | {np.median(was):.0f} -> {np.median(now):.0f} | {np.mean(was < 10):.2f} -> "
            f"{np.mean(now < 10):.2f} | {np.mean(kept):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--users", type=int, default=30, help="fresh users per weight")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0], help="dislike weights")
    args = parser.parse_args()
    config = load_config(args.config)
    print("| dislike_weight | median rank of the 5 nearest | their share in the top-10 | items 2-11 still in the top-10 |")
    print("|---|---|---|---|")
    for weight in args.weights:
        print(probe(config, weight, args.users))


if __name__ == "__main__":
    main()
