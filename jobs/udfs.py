"""What the embed job runs on the workers: Ray Data's actor pools and tasks, and the index build."""

from __future__ import annotations

from collections.abc import Mapping

import lancedb
import pyarrow as pa
import pyarrow.compute as pc
import ray

from rec.config import CatalogConfig, EncoderConfig
from rec.encoding.batch import VECTOR_REUSED, embed_items
from rec.encoding.encoder import TextEncoder
from rec.storage.items_table import index_if_large, write_fragments
from rec.storage.vector_index import IndexPlan
from rec.storage.unchanged_vectors import PreviousVersion, UnchangedVectors

EMBEDDED_ON = "embedded_on"  # a column of the encoder actors' rows: the Ray node that embedded them


class EmbedItems:
    """Loads the encoder once per actor, then embeds catalogue batches; with a `previous`
    version, items whose text is unchanged keep their vector from it."""

    def __init__(
        self, model_dir: str, encoder_config: EncoderConfig, catalog_config: CatalogConfig,
        popularity: Mapping[str, int], encoder_tag: str, previous: PreviousVersion | None = None,
        fail_after_rows: int | None = None,
    ) -> None:
        self.encoder = TextEncoder(model_dir, encoder_config)
        self.unchanged = UnchangedVectors(previous) if previous is not None else None
        self.catalog_config = catalog_config
        self.popularity = popularity
        self.encoder_tag = encoder_tag
        self.fail_after_rows = fail_after_rows
        self.rows_done = 0
        self.node_id = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.fail_after_rows is not None and self.rows_done >= self.fail_after_rows:
            raise RuntimeError(f"injected failure after {self.rows_done} rows (embed.fail_after_rows)")
        out = embed_items(batch, self.encoder, self.catalog_config, self.popularity, self.encoder_tag,
                          self.unchanged)
        self.rows_done += out.num_rows
        return out.append_column(EMBEDDED_ON, pa.array([self.node_id] * out.num_rows, pa.string()))


def write_fragment_batch(rows: pa.Table, dataset_uri: str, schema: pa.Schema) -> pa.Table:
    """A Ray Data task: write these embedded rows as fragments of the new table version;
    only the fragments' descriptions (and row counts, and the nodes that embedded them) go
    on, to the driver that commits them."""
    return pa.table({
        "fragments": [write_fragments(rows, dataset_uri, schema)],
        "rows": [rows.num_rows], "vectors_reused": [pc.sum(rows[VECTOR_REUSED]).as_py() or 0],
        "nodes": [sorted(set(rows[EMBEDDED_ON].to_pylist()))],
    })


@ray.remote(num_cpus=1)
def index_table(db_uri: str, table: str, min_rows: int) -> IndexPlan | None:
    """index_if_large on a worker: the build reads every vector, which the driver should never hold."""
    return index_if_large(lancedb.connect(db_uri).open_table(table), min_rows)
