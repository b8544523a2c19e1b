"""Free-text recommendations against judged queries: genre precision@10, both interests of a
two-interest query, and how well liked the answers are, per text-ranking setting.

    PYTHONPATH=. .venv/bin/python scripts/probe_text_queries.py [--config configs/base.yaml]

Needs the embed job (`make demo` or `make embed`). Each query is judged by the
MovieLens genre it asks for, in other words than the genre's name. Precision@10
is the share of the top-10 in that genre; for a query naming two interests,
"both" is the smaller of the two genres' shares (0.5 = half each) and "hit"
the share of queries with at least 3 of each. "rating" is the mean MovieLens
rating of the answers (smoothed with 10 ratings of the mean): how well liked
what the text finds is. Settings: the whole text embedded as it is ("whole")
and split into its interests ("interests": at "and", commas and the like, each
part ranked alone, interleaved), each with the best 200 by cosine
re-ranked by cosine + w * log(1 + popularity). With --split-contexts, the
interests only where the whole text's top-10 leaves one out; with
--model-histories, the text through the champion interest model
(RankingPipeline.search_text); and the route as the config serves it ("served").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from itertools import product

import numpy as np
import pyarrow.parquet as pq

from scripts.champion import champion_pipeline
from rec.config import load_config
from rec.encoding.encoder import TextEncoder
from rec.ranking.candidates import Candidates, InMemoryItems
from rec.ranking.rerankers import PopularityReranker
from rec.ranking.strategies import RankRequest
from rec.ranking.text_interests import interests_in, interleave, texts_to_embed
from rec.registry.encoders import resolve_encoder
from rec.storage.items_table import ItemStore, ScoredItem

SINGLE = {  # query: the genres that satisfy it
    "something scary to watch at night": {"Horror", "Thriller"},
    "monsters, ghosts and haunted houses": {"Horror"},
    "something funny to make me laugh": {"Comedy"},
    "space adventures": {"Sci-Fi"},
    "robots and aliens": {"Sci-Fi"},
    "cowboys in the wild west": {"Western"},
    "a love story": {"Romance"},
    "soldiers in battle": {"War"},
    "old musicals with songs and dancing": {"Musical"},
    "cartoons for kids": {"Animation", "Children's"},
    "gangsters and heists": {"Crime"},
    "a detective solving a murder": {"Mystery", "Crime", "Film-Noir"},
    "true stories about real people": {"Documentary"},
    "a tense edge-of-the-seat thriller": {"Thriller"},
    "wizards, dragons and magic": {"Fantasy"},
}
DOUBLE = {  # query: (genres of one interest, genres of the other)
    "I like space adventures and old musicals": ({"Sci-Fi"}, {"Musical"}),
    "horror films and romantic comedies": ({"Horror"}, {"Romance"}),
    "westerns and cartoons": ({"Western"}, {"Animation", "Children's"}),
    "war films and documentaries": ({"War"}, {"Documentary"}),
    "gangster films, and musicals": ({"Crime"}, {"Musical"}),
    "sci-fi with robots and also love stories": ({"Sci-Fi"}, {"Romance"}),
}
# Held out: written after the settings were chosen on the queries above, and read once.
HELD_OUT_SINGLE = {
    "zombies and vampires": {"Horror"},
    "a slasher with a masked killer": {"Horror", "Thriller"},
    "a silly slapstick farce": {"Comedy"},
    "a witty film that will make me giggle": {"Comedy"},
    "astronauts and distant planets": {"Sci-Fi"},
    "time travel and the future": {"Sci-Fi"},
    "gunfights, outlaws and sheriffs": {"Western"},
    "two people falling in love": {"Romance"},
    "a heartbreaking romance": {"Romance"},
    "the second world war": {"War"},
    "the Vietnam war": {"War"},
    "a Broadway show with singing": {"Musical"},
    "animated fairy tales": {"Animation", "Children's"},
    "a film for young children": {"Children's", "Animation"},
    "the mafia and organised crime": {"Crime"},
    "a private eye in a dark city": {"Film-Noir", "Mystery", "Crime"},
    "a whodunit": {"Mystery", "Crime"},
    "a film about real events, with interviews": {"Documentary"},
    "a psychological thriller full of suspense": {"Thriller"},
    "car chases and explosions": {"Action"},
    "martial arts fights": {"Action"},
    "a treasure hunt in the jungle": {"Adventure"},
    "knights, swords and a magic kingdom": {"Fantasy", "Adventure"},
    "a courtroom drama": {"Drama"},
    "a family drama about growing up": {"Drama"},
}
HELD_OUT_DOUBLE = {
    "zombie films and westerns": ({"Horror"}, {"Western"}),
    "cartoons and war films": ({"Animation", "Children's"}, {"War"}),
    "love stories and mafia films": ({"Romance"}, {"Crime"}),
    "robots, and documentaries": ({"Sci-Fi"}, {"Documentary"}),
    "musicals and horror": ({"Musical"}, {"Horror"}),
    "I enjoy slapstick comedies and also space operas": ({"Comedy"}, {"Sci-Fi"}),
    "westerns plus romance": ({"Western"}, {"Romance"}),
    "kids' cartoons and crime thrillers": ({"Animation", "Children's"}, {"Crime", "Thriller"}),
    "documentaries and musicals": ({"Documentary"}, {"Musical"}),
    "action films with car chases and sad love stories": ({"Action"}, {"Romance"}),
    "ghost stories and comedies": ({"Horror"}, {"Comedy"}),
    "war films as well as science fiction": ({"War"}, {"Sci-Fi"}),
    "detective mysteries and animated films": ({"Mystery", "Crime", "Film-Noir"}, {"Animation"}),
    "cowboy films and space adventures": ({"Western"}, {"Sci-Fi"}),
}
QUERY_SETS = {"tuning": (SINGLE, DOUBLE), "held-out": (HELD_OUT_SINGLE, HELD_OUT_DOUBLE)}
Search = Callable[[str], list[ScoredItem]]

def split_if_uncovered(text: Candidates, vectors: dict[str, np.ndarray], q: str, context: float,
                       pool: int = 20, need: int = 3) -> list[ScoredItem]:
    """The whole text's top-10, unless it holds fewer than `need` of some interest's own best
    `pool`: then the interests' rankings interleaved. Each interest is ranked by
    unit(part + context * whole), so a part that means little alone ("heists") keeps the
    sense the whole gives it."""
    whole = text.search(vectors[q], 10)
    parts = interests_in(q)
    if len(parts) < 2:
        return whole
    listed = {item.item_id for item in whole}
    own = []
    for part in parts:
        query = vectors[part] + context * vectors[q]
        own.append(text.search(query / np.linalg.norm(query), pool))
    if all(len(listed & {item.item_id for item in ranking}) >= need for ranking in own):
        return whole
    return interleave([ranking[:10] for ranking in own], 10)


def _share(items: list[ScoredItem], genres: set[str]) -> float:
    return float(np.mean([bool(genres.intersection(i.categories)) for i in items])) if items else 0.0


def judge(search: Search, rating: dict[str, float], single: dict, double: dict) -> str:
    precision = [_share(search(q), genres) for q, genres in single.items()]
    both, hits, ratings = [], [], []
    for q, (a, b) in double.items():
        top = search(q)
        shares = _share(top, a), _share(top, b)
        both.append(min(shares))
        hits.append(min(shares) >= 0.3)
    for q in [*single, *double]:
        ratings += [rating.get(i.item_id, np.nan) for i in search(q)]
    return f"{np.mean(precision):.2f} | {np.mean(both):.2f} | {np.mean(hits):.2f} | {np.nanmean(ratings):.2f}"


def smoothed_ratings(events_path: str, prior: float = 10.0) -> dict[str, float]:
    events = pq.read_table(events_path, columns=["item_id", "rating"]).to_pandas()
    mean = events.rating.mean()
    grouped = events.groupby("item_id").rating.agg(["sum", "count"])
    return ((grouped["sum"] + prior * mean) / (grouped["count"] + prior)).to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.1], help="popularity weights")
    parser.add_argument("--split-contexts", type=float, nargs="*", default=[],
                        help="also split where the whole text leaves an interest out, each part ranked with "
                             "this share of the whole text's vector")
    parser.add_argument("--model-histories", type=int, nargs="*", default=[],
                        help="interest.text_query_history values to try with the champion model")
    parser.add_argument("--model-blends", type=float, nargs="*", default=[1.0], help="interest.text_query_blend values")
    parser.add_argument("--queries", choices=sorted(QUERY_SETS), default="tuning",
                        help="the judged queries: those the settings were chosen on, or the held-out ones")
    args = parser.parse_args()
    config = load_config(args.config)
    encoder = resolve_encoder(config.encoder, config.paths)
    store = ItemStore(config.paths.lancedb_uri, encoder.items_table, encoder.items_table_version)
    text = Candidates(store, InMemoryItems(store.dim))
    model = TextEncoder(encoder.model_dir, config.encoder)
    single, double = QUERY_SETS[args.queries]
    queries = [*single, *double]
    texts = sorted({t for q in queries for t in [q, *interests_in(q)]})
    vectors = dict(zip(texts, model.encode(texts)))
    rating = smoothed_ratings(config.evaluate.events_path)
    print("| setting | genre precision@10 | two interests: smaller share | both >= 3 of 10 | mean rating |")
    print("|---|---|---|---|---|")
    for split, weight in product(["whole", "interests"], args.weights):
        rerank = PopularityReranker(weight, 200)

        def search(q: str) -> list[ScoredItem]:
            parts = [q] if split == "whole" else interests_in(q)
            return interleave([rerank.rerank(text.search(vectors[p], 200), 10) for p in parts], 10)

        print(f"| {split}, popularity {weight:g} | {judge(search, rating, single, double)} |", flush=True)
    for context in args.split_contexts:
        def when_uncovered(q: str, context: float = context) -> list[ScoredItem]:
            return split_if_uncovered(text, vectors, q, context)

        print(f"| interests only where the whole text leaves one out, context {context:g} | "
              f"{judge(when_uncovered, rating, single, double)} |", flush=True)
    _, _, served = champion_pipeline(config, config.interest)

    def served_route(q: str) -> list[ScoredItem]:
        query, *interests = [vectors[t] for t in texts_to_embed(q, config.interest.split_text_interests)]
        return served.search_text(query, RankRequest(10), interests).items

    print(f"| served: the config's RankingPipeline.search_text | {judge(served_route, rating, single, double)} |",
          flush=True)
    for history, blend in product(args.model_histories, args.model_blends):
        interest = config.interest.model_copy(update={"text_query_history": history, "text_query_blend": blend})
        _, _, pipeline = champion_pipeline(config, interest)

        def through_model(q: str) -> list[ScoredItem]:
            return pipeline.search_text(vectors[q], RankRequest(10)).items

        print(f"| whole, through the model: history {history}, blend {blend:g} | {judge(through_model, rating, single, double)} |",
              flush=True)


if __name__ == "__main__":
    main()
