"""The ANN index of an item table, chosen from its size alone, so that the job that builds it
and every reader that queries it agree without storing anything beside the table.

Below `min_rows` a table gets no index: an exact scan (in memory, or LanceDB's flat scan)
is faster at that size than any index, and exact. From there, IVF with scalar-quantised
vectors (IVF_SQ): k-means partitions (index_plan), a query scans the `nprobes` nearest
partitions by int8 distances, and the best `k x refine_factor` are re-scored with the
full vectors, so the order within the top-k is exact. Chosen over IVF_PQ (recall 0.27
at 1M without refine, shared/anchors/performance.md) and IVF_HNSW_SQ (108 s to build
at 100k in the anchors, against 3 s for IVF_SQ here). `make bench-retrieval`
(scripts/bench_retrieval.py) measures the plan at 100k and 1M rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import lancedb

log = logging.getLogger(__name__)

ROWS_PER_PARTITION = 1000  # beyond 1M rows: partitions grow with the rows, not their square root


@dataclass(frozen=True)
class IndexPlan:
    """How a table of `rows` rows is indexed and queried."""

    rows: int
    partitions: int
    nprobes: int
    refine_factor: int
    why: str

    def as_params(self) -> dict:
        """For MLflow params and job summaries."""
        return {f"index_{k}": v for k, v in asdict(self).items()}


def index_plan(rows: int, min_rows: int) -> IndexPlan | None:
    """The index for a table of `rows` rows; None below `min_rows` (scanned exactly).

    Partitions: sqrt(rows), so sqrt(rows) rows each (316 at 100k, 1,000 at 1M), and never
    more than ROWS_PER_PARTITION rows each beyond 1M. nprobes: 8% of the partitions, at
    least 20, so a query reads about 83,000 rows at 1M. A category filter that keeps one
    item in 15 needs that many: at 1M rows of 65-d vectors, 40 probes found 0.918 of the
    filtered top-10, 80 probes 0.985, in about the same time (LanceDB's fixed cost per
    query dominates); the refine factor made no difference from 10 to 30.
    """
    if rows < max(min_rows, 1):
        return None
    partitions = max(int(math.sqrt(rows)), rows // ROWS_PER_PARTITION)
    nprobes = min(partitions, max(20, partitions // 12))
    why = (f"IVF_SQ over {rows} rows: {partitions} partitions "
           f"(~{rows // partitions} rows each), nprobes {nprobes} (~{100 * nprobes / partitions:.0f}% of them), "
           "refine 10 (the top-k re-scored exactly)")
    return IndexPlan(rows, partitions, nprobes, refine_factor=10, why=why)


def build_index(table: lancedb.table.Table, plan: IndexPlan) -> None:
    """The plan's vector index, and scalar indices that make the prefilters cheap."""
    log.info("indexing: %s", plan.why)
    table.create_index("vector", config=lancedb.index.IvfSq(distance_type="dot", num_partitions=plan.partitions),
                       replace=True)
    table.create_scalar_index("item_id", index_type="BTREE", replace=True)
    if "categories" in table.schema.names:
        table.create_scalar_index("categories", index_type="LABEL_LIST", replace=True)


def has_vector_index(table: lancedb.table.Table) -> bool:
    return any("vector" in index.columns for index in table.list_indices())
