"""Nightly job: embed the whole catalogue into a new version of the items table.

    python -m jobs.embed_catalog --config configs/embed_catalog.yaml

Ray Data reads the catalogue, an actor pool of encoders (GPU when configured)
embeds it, and the rows are written as one new LanceDB table version, which
commits only once every row is written. The live pointer (a tag on the
encoder's registered version, and the encoder alias) moves to it only after
the row check passes, so a failed run changes nothing that serve uses. With
`encoder.source_dir` naming other weights than the champion's, the run
registers them as a new encoder version and that version becomes champion
at the end; serve goes live on it at POST /admin/reload. Items added live
(POST /items, the new-items log) that the catalogue file does not hold are
embedded with it, so they become regular items. An item whose text, encoder and
embedding settings are as in the table's latest version keeps its vector from it
(embed.reuse_unchanged), so a nightly run embeds only what changed. Ends with one
JSON line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import ray
import mlflow

from jobs.cli import run_config_job
from jobs.udfs import EmbedItems, index_table, write_fragment_batch
from rec.registry import encoders as registry
from rec.catalog.files import catalog_format, catalog_item_ids, normalize_catalog
from rec.config import RecConfig
from rec.encoding.batch import duplicate_ids, popularity_counts
from rec.errors import DataError
from rec.storage.items_table import commit_fragments, ensure_table, lance_dataset_uri
from rec.storage.new_item_log import items_to_embed, new_items_catalog
from rec.storage.unchanged_vectors import embed_settings, reusable_version
from rec.catalog.schemas import items_table_schema

log = logging.getLogger(__name__)

# Rows a write task gathers before it writes a fragment (384-d: about 100 MB), so a
# large catalogue is a few large fragments, not one per actor call.
ROWS_PER_FRAGMENT = 65_536


def read_catalog_dataset(
    path: str, min_blocks: int, extra: pa.Table | None = None, filterable: Mapping[str, str] | None = None,
) -> ray.data.Dataset:
    """The catalogue as a Ray Dataset, split so every actor gets work; `extra` rows
    (normalised with the `filterable` columns) are appended."""
    fmt = catalog_format(path)
    if fmt == "csv":  # ids stay strings: "007" must not become 7
        options = pacsv.ConvertOptions(column_types={"item_id": pa.string()})
        dataset = ray.data.read_csv(path, convert_options=options)
    else:
        dataset = {"parquet": ray.data.read_parquet, "json": ray.data.read_json}[fmt](path)
    if extra is not None and extra.num_rows:
        # A union needs one schema: the file's columns are whatever the platform wrote.
        dataset = dataset.map_batches(normalize_catalog, fn_kwargs={"filterable": filterable},
                                      batch_format="pyarrow").union(ray.data.from_arrow(extra))
    # One file reads as one block, which only one actor could work on.
    return dataset.repartition(min_blocks)


def load_popularity(path: str | None) -> dict[str, int]:
    if not path:
        return {}
    return popularity_counts(pq.read_table(path, columns=["item_id"]))


def embed_catalog(config: RecConfig) -> dict:
    """Run the whole job; returns the summary that main() prints."""
    started = time.perf_counter()
    encoder = registry.ensure_encoder(config.encoder, config.paths)
    with registry.job_run("embed_catalog", config.embed.experiment, config.paths) as run:
        mlflow.log_params({
            "catalog": config.catalog.path, "encoder": encoder.tag, "actors": config.embed.actors,
            "batch_size": config.embed.batch_size, "num_gpus_per_actor": config.embed.num_gpus_per_actor,
            "max_length": config.encoder.max_length, "dtype": config.encoder.dtype,
            "reuse_unchanged": config.embed.reuse_unchanged,
        })
        dim = _encoder_dim(encoder.model_dir)
        schema = items_table_schema(dim, config.catalog.filterable).with_metadata(_settings(config))
        # Items whose text and encoder are as in the latest version keep its vectors (the rest are embedded).
        previous = (reusable_version(config.paths.lancedb_uri, config.embed.table, encoder.tag, schema.metadata)
                    if config.embed.reuse_unchanged else None)
        catalog_ids = catalog_item_ids(config.catalog.path)
        if dupes := duplicate_ids(catalog_ids):
            raise DataError(f"catalogue has duplicate item_id values: {dupes[:5]}")
        live_added = items_to_embed(config.paths.new_items_dir, catalog_ids)
        dataset = read_catalog_dataset(
            config.catalog.path, min_blocks=config.embed.actors * 4,
            extra=new_items_catalog(live_added, config.catalog.filterable), filterable=config.catalog.filterable,
        )
        embedded = dataset.map_batches(
            EmbedItems,
            fn_constructor_kwargs={
                "model_dir": encoder.model_dir, "encoder_config": config.encoder,
                "catalog_config": config.catalog, "popularity": load_popularity(config.embed.popularity_events),
                "encoder_tag": encoder.tag, "previous": previous, "fail_after_rows": config.embed.fail_after_rows,
            },
            batch_format="pyarrow", batch_size=config.embed.batch_size,
            compute=ray.data.ActorPoolStrategy(size=config.embed.actors),
            num_cpus=config.embed.num_cpus_per_actor, num_gpus=config.embed.num_gpus_per_actor,
        )
        embed_started = time.perf_counter()
        # Write tasks on the workers take the encoder actors' rows and write them as the
        # new table version's fragments; the driver gets only the fragments' descriptions
        # and commits them once, at the end (a single new version: an error before that
        # leaves the table as it was). It never holds the rows, so its memory does not
        # grow with the catalogue.
        ensure_table(config.paths.lancedb_uri, config.embed.table, schema)
        written = embedded.map_batches(
            write_fragment_batch, batch_format="pyarrow", batch_size=ROWS_PER_FRAGMENT,
            fn_kwargs={"dataset_uri": lance_dataset_uri(config.paths.lancedb_uri, config.embed.table),
                       "schema": schema},
        ).take_all()
        if not written:
            raise DataError(f"no rows were embedded from {config.catalog.path}: the table is unchanged")
        table = commit_fragments(config.paths.lancedb_uri, config.embed.table,
                                 [f for batch in written for f in batch["fragments"]], schema)
        reused = sum(batch["vectors_reused"] for batch in written)
        embed_seconds = time.perf_counter() - embed_started
        rows = table.count_rows()
        plan = ray.get(index_table.remote(config.paths.lancedb_uri, config.embed.table,
                                          config.embed.index_min_rows))
        if plan is not None:
            mlflow.log_params(plan.as_params())
        version = int(table.version)
        registry.publish_items_version(
            encoder, config.embed.table, version, config.paths, alias=config.encoder.alias,
        )
        summary = {
            "job": "embed_catalog", "rows": rows, "items_per_s": round(rows / embed_seconds, 1),
            "embed_duration_s": round(embed_seconds, 2), "duration_s": round(time.perf_counter() - started, 2),
            "table": config.embed.table, "table_version": version,
            "index": plan.why if plan else f"none below embed.index_min_rows ({config.embed.index_min_rows}): exact scans",
            "live_added_items": len(live_added),
            "vectors_embedded": rows - reused, "vectors_reused": reused,
            "reused_from_version": previous.version if previous else None,
            "encoder_nodes": len({node for batch in written for node in batch["nodes"]}),
            "encoder": encoder.tag, "mlflow_run_id": run.info.run_id,
        }
        mlflow.log_metrics({k: summary[k] for k in ("rows", "items_per_s", "embed_duration_s", "duration_s",
                                                    "table_version", "vectors_embedded", "vectors_reused")})
        mlflow.set_tags({"encoder_version": encoder.tag, "items_table": config.embed.table,
                         "indexed": str(plan is not None)})
    return summary


def _settings(config: RecConfig) -> dict[bytes, bytes]:
    # Half precision applies on a GPU only (rec/encoding/encoder.py): on CPU the vectors are float32.
    dtype = config.encoder.dtype if config.embed.num_gpus_per_actor > 0 else "float32"
    return embed_settings(config.encoder.max_length, dtype)


def _encoder_dim(model_dir: str) -> int:
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(model_dir).hidden_size)


def main() -> None:
    run_config_job(__doc__, "configs/embed_catalog.yaml", embed_catalog, needs_ray=True)


if __name__ == "__main__":
    main()
