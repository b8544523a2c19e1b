"""A tiny items table whose search order is known by construction, for tests of
LanceDB reads and of ranking over them."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from rec.catalog.schemas import items_table_schema

DIM = 4
# i0..i6 lie in the (x, y) plane at 0, 15, ..., 90 degrees from x: their dot
# product with x is cos(angle), so the ranking for query x is i0, i1, i2, ...
ANGLES = [0, 15, 30, 45, 60, 75, 90]
VECTORS = {f"i{k}": [math.cos(math.radians(a)), math.sin(math.radians(a)), 0.0, 0.0] for k, a in enumerate(ANGLES)}
VECTORS |= {"i7": [0.0, 0.0, 1.0, 0.0], "i8": [0.0, 0.0, 0.0, 1.0], "i9": [-1.0, 0.0, 0.0, 0.0]}
IDS = list(VECTORS)
POPULARITY = {"i0": 5, "i1": 50, "i2": 0, "i3": 7, "i4": 100, "i5": 3, "i6": 9, "i7": 1, "i8": 20, "i9": 2}
X = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)


def item_rows(
    vectors: dict[str, list[float]], encoder: str = "text-encoder/1", attributes: dict[str, tuple[str, list]] | None = None,
) -> pa.Table:
    """Items-table rows of `vectors` (every other one a Drama, the rest Comedy and Romance), with
    declared `attributes` (name -> (kind, a value per row)) when given."""
    ids = list(vectors)
    matrix = np.asarray([vectors[i] for i in ids], dtype=np.float32)
    kinds = {name: kind for name, (kind, _) in (attributes or {}).items()}
    return pa.table(
        {
            "item_id": ids,
            "title": [f"Movie {i}" for i in ids],
            "description": [None] * len(ids),
            "categories": [["Drama"] if n % 2 else ["Comedy", "Romance"] for n in range(len(ids))],
            "year": pa.array([1990 + n for n in range(len(ids))], pa.int32()),
            "text": [f"Movie {i}." for i in ids],
            "popularity": [POPULARITY.get(i, 0) for i in ids],
            "encoder_version": [encoder] * len(ids),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), pa.float32()), DIM),
            **{name: values for name, (_, values) in (attributes or {}).items()},
        },
        schema=items_table_schema(DIM, kinds),
    )
