"""Is an int8 query encoder good enough to serve on CPU? Nearest-neighbour recall and speed.

    PYTHONPATH=. .venv/bin/python scripts/bench_quantized_encoder.py [--config configs/base.yaml]

Needs `make demo` (or the embed job) first: the items table's fp32 vectors are what a
query is searched against, as in serve. The queries are the free-text probe's judged
texts and their named interests (scripts/probe_text_queries.py), and the catalogue's own
item texts as stand-ins for stated interests. For each variant of the query encoder,
embedded one text at a time on one thread (as the live query encoder runs):
- recall@10: the share of the fp32 query's top-10 items that the variant's query also
  finds, over the items table;
- cosine of the variant's query vector to the fp32 one;
- median and p99 ms per text, and the speed-up over fp32.
Variants: torch's dynamic int8 of every Linear layer, and of the attention projections only.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from rec.config import load_config
from rec.encoding.encoder import TextEncoder
from rec.ranking.text_interests import interests_in
from rec.registry.encoders import resolve_encoder
from rec.storage.items_table import ItemStore, vector_matrix
from scripts.probe_text_queries import QUERY_SETS

ATTENTION = ("query", "key", "value")  # the names of BERT's attention projections


def quantized(encoder: TextEncoder, only: tuple[str, ...] = ()) -> TextEncoder:
    """A copy whose Linear layers (those whose name ends in one of `only`, if given) are dynamic int8."""
    copied = copy.copy(encoder)
    model = copy.deepcopy(encoder.model)
    if only:
        names = {name for name, module in model.named_modules()
                 if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in only}
        copied.model = torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)
    else:
        copied.model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return copied


def one_at_a_time(encoder: TextEncoder, texts: list[str]) -> tuple[np.ndarray, list[float]]:
    vectors, times = [], []
    for text in texts:
        started = time.perf_counter()
        vectors.append(encoder.encode([text])[0])
        times.append(1000 * (time.perf_counter() - started))
    return np.stack(vectors), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/base.yaml", help="project config (YAML)")
    parser.add_argument("--item-texts", type=int, default=200, help="catalogue texts used as queries too")
    args = parser.parse_args()
    config = load_config(args.config)
    torch.set_num_threads(1)
    live = resolve_encoder(config.encoder, config.paths)
    rows = ItemStore(config.paths.lancedb_uri, live.items_table, live.items_table_version).table.search().select(
        ["text", "vector"]).limit(100_000).to_arrow()
    items = vector_matrix(rows)  # (N, D) fp32, as the nightly job wrote them
    judged = [q for single, double in QUERY_SETS.values() for q in [*single, *double]]
    texts = sorted({t for q in judged for t in [q, *interests_in(q)]})
    rng = np.random.default_rng(0)
    texts += [rows["text"][int(i)].as_py() for i in rng.choice(rows.num_rows, size=args.item_texts, replace=False)]
    fp32 = TextEncoder(live.model_dir, config.encoder)
    one_at_a_time(fp32, texts[:20])  # warm-up
    base, base_times = one_at_a_time(fp32, texts)
    top = np.argsort(-(base @ items.T), axis=1)[:, :10]
    print(f"{len(texts)} query texts ({len(texts) - args.item_texts} judged and their interests, "
          f"{args.item_texts} item texts) against {len(items)} items, one text at a time, one thread\n")
    print("| query encoder | recall@10 vs fp32 | cosine to fp32 (mean / min) | median ms | p99 ms | speed-up |")
    print("|---|---|---|---|---|---|")
    print(f"| fp32 | 1.000 | 1.000 / 1.000 | {np.median(base_times):.2f} | {np.percentile(base_times, 99):.2f} | 1.00x |")
    for name, variant in (("int8, every Linear", quantized(fp32)), ("int8, attention projections", quantized(fp32, ATTENTION))):
        one_at_a_time(variant, texts[:20])
        vectors, times = one_at_a_time(variant, texts)
        found = np.argsort(-(vectors @ items.T), axis=1)[:, :10]
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, found)])
        cosine = np.sum(vectors * base, axis=1)
        print(f"| {name} | {recall:.3f} | {cosine.mean():.4f} / {cosine.min():.4f} | {np.median(times):.2f} | "
              f"{np.percentile(times, 99):.2f} | {np.median(base_times) / np.median(times):.2f}x |", flush=True)


if __name__ == "__main__":
    main()
