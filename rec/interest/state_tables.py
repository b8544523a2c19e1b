"""User states as one Arrow table and back: the states part of a shard's snapshot
(rec/interest/snapshot.py). Columns are built from flat arrays, not row by row, and item
ids are dictionary-encoded, as they repeat across users."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa

from rec.interest.rule import InterestState

_ITEM_ID = pa.dictionary(pa.int32(), pa.string())  # item ids repeat across users: each is kept once
_STATE_SCHEMA = pa.schema([
    ("encoder_version", pa.string()), ("user_id", pa.string()), ("accumulator", pa.large_list(pa.float64())),
    ("last_timestamp", pa.float64()), ("n_events", pa.int64()), ("n_positive", pa.int64()),
    ("log_decay", pa.float64()), ("seen_items", pa.large_list(_ITEM_ID)),
    ("recent_items", pa.large_list(_ITEM_ID)), ("recent_timestamps", pa.large_list(pa.float64())),
    ("recent_weights", pa.large_list(pa.float64())), ("recent_marks", pa.large_list(pa.float64())),
    ("recent_negatives", pa.large_list(_ITEM_ID)),
])
_LISTS = ["recent_items", "recent_timestamps", "recent_weights", "recent_marks", "recent_negatives"]


def states_table(spaces: dict[str, dict[str, InterestState]]) -> pa.Table:
    """Every user state of every space held, one row each."""
    rows = [(tag, user, s) for tag, states in spaces.items() for user, s in states.items()]
    columns = {
        "encoder_version": [t for t, _, _ in rows], "user_id": [u for _, u, _ in rows],
        "accumulator": _list_array([s.accumulator for _, _, s in rows]),
        "last_timestamp": [s.last_timestamp for _, _, s in rows],
        "n_events": [s.n_events for _, _, s in rows], "n_positive": [int(s.n_positive) for _, _, s in rows],
        "log_decay": [s.log_decay for _, _, s in rows],
        **{name: _flat_list_array([getattr(s, name) for _, _, s in rows], _STATE_SCHEMA.field(name).type.value_type)
           for name in ("seen_items", *_LISTS)},
    }
    return pa.table(columns, schema=_STATE_SCHEMA)


def _flat_list_array(lists: list, value_type: pa.DataType) -> pa.LargeListArray:
    """Lists (or sets) as one column, its values converted as one flat array (not a list at a time)."""
    offsets = np.zeros(len(lists) + 1, np.int64)
    np.cumsum([len(values) for values in lists], out=offsets[1:])
    values = itertools.chain.from_iterable(lists)
    if pa.types.is_dictionary(value_type):
        codes: dict[str, int] = {}
        indices = np.fromiter((codes.setdefault(v, len(codes)) for v in values), np.int32, count=int(offsets[-1]))
        flat = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(list(codes), pa.string()))
    else:
        flat = pa.array(np.fromiter(values, np.float64, count=int(offsets[-1])), value_type)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), flat)


def _list_array(vectors: list[np.ndarray]) -> pa.LargeListArray:
    """Vectors as one column, built from one flat buffer (not a vector at a time)."""
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    values = np.concatenate(vectors) if vectors else np.zeros(0)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values, pa.float64()))


def _vectors_of(column: pa.ChunkedArray) -> list[np.ndarray]:
    array = column.combine_chunks()
    offsets, values = array.offsets.to_numpy(), array.values.to_numpy()
    return [values[offsets[n]:offsets[n + 1]].copy() for n in range(len(array))]


def _lists_of(column: pa.ChunkedArray) -> list[list]:
    """A list column as Python lists, converted as one flat array (much faster than row by row).
    Strings are made once per distinct value and shared, as item ids repeat across users."""
    array = column.combine_chunks()
    offsets, values = array.offsets.to_numpy(), array.values
    if pa.types.is_dictionary(values.type):
        distinct = values.dictionary.to_pylist()
        values = [distinct[i] for i in values.indices.to_numpy().tolist()]
    else:
        values = values.to_numpy().tolist()
    return [values[offsets[n]:offsets[n + 1]] for n in range(len(array))]


def spaces_of(table: pa.Table) -> dict[str, dict[str, InterestState]]:
    """The user states of a `states_table`, per encoder version."""
    lists = {"seen_items", *_LISTS}
    columns = {name: _lists_of(table[name]) if name in lists else table[name].to_pylist()
               for name in _STATE_SCHEMA.names if name != "accumulator"}
    accumulators = _vectors_of(table["accumulator"])
    spaces: dict[str, dict[str, InterestState]] = {}
    for n, (tag, user) in enumerate(zip(columns["encoder_version"], columns["user_id"])):
        spaces.setdefault(tag, {})[user] = InterestState(
            accumulator=accumulators[n], last_timestamp=columns["last_timestamp"][n],
            n_events=columns["n_events"][n], n_positive=columns["n_positive"][n], log_decay=columns["log_decay"][n],
            seen_items=set(columns["seen_items"][n]), **{name: columns[name][n] for name in _LISTS},
        )
    return spaces
