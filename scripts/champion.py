"""The ranking pipeline the service builds over the live encoder's items table and the
champion interest model, in memory for the probes (scripts/probe_*.py)."""

from __future__ import annotations

import argparse

from rec.config import InterestConfig, RecConfig, load_config
from rec.interest.queries import ModelQueries
from rec.ranking.candidates import Candidates, InMemoryItems, pinned_source
from rec.ranking.pipeline import RankingPipeline, build_pipeline
from rec.registry.encoders import EncoderVersion, resolve_encoder
from rec.registry.interest_models import resolve_interest_model
from rec.storage.items_table import ItemStore


def champion_pipeline(
    config: RecConfig, interest: InterestConfig, with_model: bool = True, in_memory_max_items: int | None = None,
) -> tuple[EncoderVersion, ItemStore, RankingPipeline]:
    """The live encoder, its pinned items table and the service's pipeline over them, with
    the champion interest model (or without: the per-event vector alone). Tables are searched
    in memory up to `in_memory_max_items` rows (default serve.in_memory_max_items), as serve does."""
    limit = config.serve.in_memory_max_items if in_memory_max_items is None else in_memory_max_items
    encoder = resolve_encoder(config.encoder, config.paths)
    store = ItemStore(config.paths.lancedb_uri, encoder.items_table, encoder.items_table_version)
    model = None
    if with_model:
        champion = resolve_interest_model(config.train.registered_name, config.train.champion_alias, config.paths)
        queries = ModelQueries.from_dir(champion.model_dir)
        scoring = ItemStore(config.paths.lancedb_uri, champion.scoring_table, champion.scoring_table_version)
        model = (queries, Candidates(pinned_source(scoring, limit), InMemoryItems(queries.dim)), champion.tag)
    text = Candidates(pinned_source(store, limit), InMemoryItems(store.dim))
    return encoder, store, build_pipeline(interest, text, store.popular(config.serve.popular_pool), model)


def in_process_bench(doc: str, calls: int) -> tuple[RecConfig, int]:
    """The shared command line of the in-process benchmarks (--config, --calls), one torch
    thread as the ingress has; returns the config and the calls per row."""
    import torch

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--calls", type=int, default=calls, help="timed calls per row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    return load_config(args.config), args.calls
