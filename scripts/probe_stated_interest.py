"""What a stated interest does for a new user, then as they act, per stated knob.

    PYTHONPATH=. .venv/bin/python scripts/probe_stated_interest.py [--config configs/base.yaml]

Needs `make demo` (or the embed and train jobs) first. Each trial is a fresh user
who states an interest in genre A in words ("horror films with monsters"), then
likes the 5 most-listed items of genre B, one a minute. The table gives A's share
of their top-10 after the statement alone, and B's and A's share after the likes,
averaged over the genre pairs, through the service's ranking pipeline with the
champion model (and, on the last line, without a model: the per-event vector).
The same users for every setting.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from itertools import product

import numpy as np

from rec.config import InterestConfig, RecConfig, load_config
from rec.encoding.encoder import TextEncoder
from rec.interest.rule import InterestState, apply_event
from rec.interest.profile import user_profile
from rec.ranking.strategies import RankRequest
from rec.registry.encoders import EncoderVersion
from rec.storage.items_table import ItemStore
from scripts.champion import champion_pipeline

STATED = {  # genre: what a user might say
    "Horror": "horror films with monsters",
    "Comedy": "funny comedies that make me laugh",
    "Sci-Fi": "science fiction about space and aliens",
    "Romance": "romantic love stories",
    "Western": "westerns with cowboys and gunfights",
    "Animation": "animated cartoons for the whole family",
    "War": "war films about soldiers in battle",
    "Musical": "old musicals with songs and dancing",
    "Crime": "crime films about gangsters and heists",
    "Documentary": "documentaries about real people",
}
PAIRS = list(zip(STATED, list(STATED)[1:] + list(STATED)[:1]))  # A states, then B is liked


def _most_listed(store: ItemStore, genre: str, n: int) -> list[str]:
    return [item.item_id for item in store.popular(2000) if genre in item.categories][:n]


def probe(config: RecConfig, interest: InterestConfig, vectors: dict[str, np.ndarray], with_model: bool) -> str:
    _, store, pipeline = champion_pipeline(config, interest, with_model)
    categories = store.categories
    share = lambda items, genre: np.mean([genre in categories([i.item_id])[i.item_id] for i in items])  # noqa: E731
    said, liked_b, left_a = [], [], []
    for a, b in PAIRS:
        profile = replace(user_profile("u", None, stated_text=STATED[a]), stated=vectors[a])
        said.append(share(pipeline.recommend(profile, RankRequest(10)).items, a))
        state = InterestState.empty(store.dim)
        for n, (item, vector) in enumerate(store.vectors(_most_listed(store, b, 5)).items()):
            apply_event(state, item, vector, "like", 1000.0 + 60 * n, interest, config.history_length)
        profile = replace(user_profile("u", state, stated_text=STATED[a]), stated=vectors[a])
        after = pipeline.recommend(profile, RankRequest(10)).items
        liked_b.append(share(after, b))
        left_a.append(share(after, a))
    knobs = f"{interest.stated_half_life_events:g} | {interest.stated_model_weight:g}" if with_model else "same | (no model)"
    return f"| {knobs} | {np.mean(said):.2f} | {np.mean(liked_b):.2f} | {np.mean(left_a):.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--half-lives", type=float, nargs="+", default=[2.0, 3.0, 5.0])
    parser.add_argument("--model-weights", type=float, nargs="+", default=[0.0, 2.0, 5.0])
    args = parser.parse_args()
    config = load_config(args.config)
    encoder: EncoderVersion = champion_pipeline(config, config.interest, with_model=False)[0]
    texts = TextEncoder(encoder.model_dir, config.encoder).encode(list(STATED.values()))
    vectors = dict(zip(STATED, texts))
    print(f"{len(PAIRS)} genre pairs; A stated in words, then 5 likes of B")
    print("| stated_half_life_events | stated_model_weight | A after the statement | B after 5 likes of B | A after them |")
    print("|---|---|---|---|---|")
    for half_life, weight in product(args.half_lives, args.model_weights):
        knobs = config.interest.model_copy(update={"stated_half_life_events": half_life, "stated_model_weight": weight})
        print(probe(config, knobs, vectors, with_model=True))
    print(probe(config, config.interest, vectors, with_model=False))


if __name__ == "__main__":
    main()
