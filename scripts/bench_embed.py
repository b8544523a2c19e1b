"""The nightly embed job against a plain loop, on a synthetic catalogue of long descriptions.

    PYTHONPATH=. .venv/bin/python scripts/bench_embed.py [--items 20000] [--words 40 60]
        [--max-length N] [--no-plain] [--changed 0.01]

Writes a catalogue of `--items` items, each a title and a description of 40-60 words
drawn from the encoder's own vocabulary (whole English words), into a scratch REC_HOME.
Then, in this one run:
- the Ray Data job (jobs/embed_catalog.py: a local Ray, embed.actors encoder actors of
  encoder.torch_threads threads each), its actors' start-up and the LanceDB write
  included (the encoder is registered in MLflow first, as it is long before a real night);
- a plain single-process loop with the same model, texts, batch size and total threads
  (actors x threads), nothing else.
Prints both, the ratio, the driver's memory before the job and its peak during it
(the rows go from the workers into the table's fragments, never through the driver,
so the peak should not grow with `--items`). Then the nightly rerun: the descriptions
of a `--changed` fraction of the items are edited and the job runs again, keeping the
vectors of the rest (embed.reuse_unchanged); it prints that run's time and its saving
against the full run. Last: `embed: ray R items/s, plain P items/s, ratio X`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from rec.catalog.files import read_catalog
from rec.catalog.text import catalog_texts
from rec.config import load_config
from rec.encoding.encoder import TextEncoder, default_model_dir

TEMPLATE = ["{title}", ". {description}"]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # as the Makefile runs everything


def synthetic_catalogue(items: int, words: tuple[int, int], seed: int = 0) -> pa.Table:
    """Titles of 2-4 words and descriptions of `words` words, from the tokenizer's whole words."""
    from transformers import AutoTokenizer

    vocab = np.array([w for w in AutoTokenizer.from_pretrained(str(default_model_dir())).get_vocab()
                      if w.isalpha() and w.isascii() and len(w) >= 3])  # an array once: choice() of a list copies it
    rng = np.random.default_rng(seed)
    pick = lambda n: " ".join(rng.choice(vocab, size=n))  # noqa: E731
    return pa.table({
        "item_id": [f"s{i}" for i in range(items)],
        "title": [pick(int(rng.integers(2, 5))).title() for _ in range(items)],
        "description": [pick(int(rng.integers(words[0], words[1] + 1))) + "." for _ in range(items)],
    })


class DriverMemory:
    """This process's resident memory before a block and its peak during it (sampled every 50 ms):
    what the job itself adds, apart from the catalogue this script builds first."""

    def __enter__(self) -> DriverMemory:
        self.before_gb = self.peak_gb = _rss_gb()
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.05):
            self.peak_gb = max(self.peak_gb, _rss_gb())

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.sampler.join()


def _rss_gb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def _rerun(config, catalogue: Path, fraction: float) -> tuple[float, dict]:
    """Edit the descriptions of `fraction` of the items, then run the job again: (seconds, summary)."""
    from jobs.embed_catalog import embed_catalog

    table = pq.read_table(catalogue)
    edited = np.random.default_rng(1).random(table.num_rows) < fraction
    descriptions = [("Edited. " + d) if e else d for d, e in zip(table["description"].to_pylist(), edited)]
    pq.write_table(table.set_column(table.schema.get_field_index("description"), "description",
                                    pa.array(descriptions, pa.string())), catalogue)
    started = time.perf_counter()
    summary = embed_catalog(config)
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/embed_catalog.yaml", help="the job's config (encoder, embed)")
    parser.add_argument("--items", type=int, default=20_000, help="synthetic catalogue size")
    parser.add_argument("--words", type=int, nargs=2, default=[40, 60], help="description length, min and max words")
    parser.add_argument("--max-length", type=int, help="encoder.max_length instead of the config's (say so)")
    parser.add_argument("--no-plain", action="store_true", help="the job alone: its time and the driver's memory")
    parser.add_argument("--changed", type=float, default=0.01,
                        help="fraction of items edited before a rerun that re-embeds only them (0: no rerun)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        catalogue = home / "catalogue.parquet"
        pq.write_table(synthetic_catalogue(args.items, tuple(args.words)), catalogue)
        path = home / "bench.yaml"
        path.write_text(yaml.safe_dump({
            "inherit": str(Path(args.config).resolve()), "paths": {"home": str(home)},
            "catalog": {"path": str(catalogue), "text_template": TEMPLATE},
            "embed": {"popularity_events": None},
            **({"encoder": {"max_length": args.max_length}} if args.max_length else {}),
        }))
        config = load_config(path)
        texts = catalog_texts(read_catalog(catalogue), config.catalog)
        tokens = [len(t.split()) for t in texts]
        threads = config.embed.actors * max(1, config.encoder.torch_threads)
        print(f"{args.items} items, {np.median(tokens):.0f} words median, max_length {config.encoder.max_length}; "
              f"{config.embed.actors} actors x {config.encoder.torch_threads} threads, batch {config.encoder.batch_size}",
              flush=True)

        from jobs.cluster import init_ray
        from jobs.embed_catalog import embed_catalog
        from rec.registry.encoders import ensure_encoder

        ensure_encoder(config.encoder, config.paths)  # registered long before a real night's run
        init_ray()
        started = time.perf_counter()
        with DriverMemory() as memory:
            summary = embed_catalog(config)
        ray_s = time.perf_counter() - started
        rerun = _rerun(config, catalogue, args.changed) if args.changed > 0 else None
        import ray

        ray.shutdown()
        if rerun is not None:
            rerun_s, again = rerun
            print("\n| run | seconds | vectors embedded | vectors kept |\n|---|---|---|---|")
            print(f"| full | {ray_s:.1f} | {summary['vectors_embedded']} | {summary['vectors_reused']} |")
            print(f"| rerun, {args.changed:.0%} edited | {rerun_s:.1f} | {again['vectors_embedded']} | "
                  f"{again['vectors_reused']} |")
            print(f"rerun: {rerun_s:.1f} s against {ray_s:.1f} s for the full run, {ray_s / rerun_s:.1f}x less time")
        if args.no_plain:
            print(f"\n| Ray Data job | {ray_s:.1f} s | {args.items / ray_s:.1f} items/s |")
            print(f"driver RSS {memory.before_gb:.2f} GB before the job, peak {memory.peak_gb:.2f} GB during it")
            return
        torch.set_num_threads(threads)
        encoder = TextEncoder(default_model_dir(), config.encoder.model_copy(update={"torch_threads": threads}))
        started = time.perf_counter()
        encoder.encode(texts)
        plain_s = time.perf_counter() - started
    finally:
        shutil.rmtree(home, ignore_errors=True)
    ray_rate, plain_rate = args.items / ray_s, args.items / plain_s
    print("\n| method | seconds | items/s |\n|---|---|---|")
    print(f"| Ray Data job (start-up, write and commit included) | {ray_s:.1f} | {ray_rate:.1f} |")
    print(f"| the job's own embed phase (its summary) | {summary['embed_duration_s']:.1f} | {summary['items_per_s']:.1f} |")
    print(f"| plain loop, {threads} threads | {plain_s:.1f} | {plain_rate:.1f} |")
    print(f"\ndriver RSS {memory.before_gb:.2f} GB before the job, peak {memory.peak_gb:.2f} GB during it")
    print(f"embed: ray {ray_rate:.1f} items/s, plain {plain_rate:.1f} items/s, ratio {ray_rate / plain_rate:.2f}")


if __name__ == "__main__":
    main()
