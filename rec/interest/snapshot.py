"""Snapshots of a user shard: its users' states in each vector space held, the event
keys it refuses again, and the point of its log file they include.

A shard that starts from a snapshot replays only its log after that point, so its
restart time is bounded by the events since the last snapshot, not by the whole log.

A snapshot is one file, written beside its final name, fsynced and renamed over it:
a crash leaves the old snapshot or the new one. It carries a checksum of its bytes,
so a torn or damaged file is detected; the shard then takes the one before it (the
last two are kept), and rebuilds from the whole log when none is usable. It is used
only when the log file still holds the bytes it read up to that point (a rewrite,
such as a user's deletion, changes them) and the states were folded with the same
interest config and shard count.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from rec.interest.event_keys import EventKeys
from rec.interest.rule import InterestState
from rec.storage.jsonl import fsync_dir

log = logging.getLogger(__name__)

MAGIC = b"RECSNAP1"
_HEADER = struct.Struct("<8sIQ")  # magic, crc32 of the payload, payload length
KEEP = 2  # snapshots kept per shard: the newest, and the one before in case it is damaged
_TAIL_BYTES = 4096  # the end of the log read so far, whose checksum shows the file is the same


@dataclass(frozen=True)
class LogPosition:
    """How far into its log file a snapshot's states go, and how to tell the file is still that one."""

    offset: int
    tail_crc: int  # crc32 of the last _TAIL_BYTES before `offset`

    @classmethod
    def end_of(cls, path: Path) -> LogPosition:
        """The file's current end (call it with every append flushed)."""
        size = path.stat().st_size if path.exists() else 0
        return cls(size, _tail_crc(path, size))

    def still_in(self, path: Path) -> bool:
        """Whether `path` still holds the bytes read up to `offset` (it was appended to, not rewritten)."""
        size = path.stat().st_size if path.exists() else 0
        return size >= self.offset and _tail_crc(path, self.offset) == self.tail_crc


def _tail_crc(path: Path, offset: int) -> int:
    if offset == 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(max(0, offset - _TAIL_BYTES))
        return zlib.crc32(handle.read(min(offset, _TAIL_BYTES)))


def fingerprint(interest_config: object, history_length: int) -> str:
    """What folding depends on besides the events: states folded under another one are not reused."""
    dumped = interest_config.model_dump_json() if hasattr(interest_config, "model_dump_json") else repr(interest_config)
    return hashlib.sha256(f"{dumped}|{history_length}".encode()).hexdigest()[:16]


@dataclass
class ShardSnapshot:
    """What a shard needs to resume: states per encoder version, event keys, log position."""

    shard: int
    n_shards: int
    fingerprint: str
    position: LogPosition
    spaces: dict[str, dict[str, InterestState]]  # encoder version -> user -> state
    keys: EventKeys


_STATE_SCHEMA = pa.schema([
    ("encoder_version", pa.string()), ("user_id", pa.string()), ("accumulator", pa.large_list(pa.float64())),
    ("last_timestamp", pa.float64()), ("n_events", pa.int64()), ("n_positive", pa.int64()),
    ("log_decay", pa.float64()), ("seen_items", pa.list_(pa.string())), ("recent_items", pa.list_(pa.string())),
    ("recent_timestamps", pa.list_(pa.float64())), ("recent_weights", pa.list_(pa.float64())),
    ("recent_marks", pa.list_(pa.float64())), ("recent_negatives", pa.list_(pa.string())),
])
_LISTS = ["recent_items", "recent_timestamps", "recent_weights", "recent_marks", "recent_negatives"]


def _states_table(spaces: dict[str, dict[str, InterestState]]) -> pa.Table:
    rows = [(tag, user, s) for tag, states in spaces.items() for user, s in states.items()]
    columns = {
        "encoder_version": [t for t, _, _ in rows], "user_id": [u for _, u, _ in rows],
        "accumulator": _list_array([s.accumulator for _, _, s in rows]), "last_timestamp": [s.last_timestamp for _, _, s in rows],
        "n_events": [s.n_events for _, _, s in rows], "n_positive": [int(s.n_positive) for _, _, s in rows],
        "log_decay": [s.log_decay for _, _, s in rows], "seen_items": [sorted(s.seen_items) for _, _, s in rows],
        **{name: [getattr(s, name) for _, _, s in rows] for name in _LISTS},
    }
    return pa.table(columns, schema=_STATE_SCHEMA)


def _list_array(vectors: list[np.ndarray]) -> pa.LargeListArray:
    """Vectors as one column, built from one flat buffer (not a vector at a time)."""
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    values = np.concatenate(vectors) if vectors else np.zeros(0)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values, pa.float64()))


def _vectors_of(column: pa.ChunkedArray) -> list[np.ndarray]:
    array = column.combine_chunks()
    offsets, values = array.offsets.to_numpy(), array.values.to_numpy()
    return [values[offsets[n]:offsets[n + 1]].copy() for n in range(len(array))]


def _spaces_of(table: pa.Table) -> dict[str, dict[str, InterestState]]:
    columns = {name: table[name].to_pylist() for name in _STATE_SCHEMA.names if name != "accumulator"}
    accumulators = _vectors_of(table["accumulator"])
    spaces: dict[str, dict[str, InterestState]] = {}
    for n, (tag, user) in enumerate(zip(columns["encoder_version"], columns["user_id"])):
        spaces.setdefault(tag, {})[user] = InterestState(
            accumulator=accumulators[n], last_timestamp=columns["last_timestamp"][n],
            n_events=columns["n_events"][n], n_positive=columns["n_positive"][n], log_decay=columns["log_decay"][n],
            seen_items=set(columns["seen_items"][n]), **{name: columns[name][n] for name in _LISTS},
        )
    return spaces


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def snapshot_path(folder: Path, shard: int, sequence: int) -> Path:
    return Path(folder) / f"snapshot-shard-{shard:04d}-{sequence:012d}.arrow"


def write_snapshot(folder: str | Path, snapshot: ShardSnapshot, sequence: int, keep: int = KEEP) -> Path:
    """Write `snapshot` durably as number `sequence` of its shard; older ones beyond `keep` go."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys, users = snapshot.keys.compact()
    meta = {"shard": snapshot.shard, "n_shards": snapshot.n_shards, "fingerprint": snapshot.fingerprint,
            "offset": snapshot.position.offset, "tail_crc": snapshot.position.tail_crc}
    parts = [json.dumps(meta).encode(), _ipc(_states_table(snapshot.spaces)),
             _ipc(pa.table({"key": pa.array(keys, pa.uint64()), "user": pa.array(users, pa.uint64())}))]
    payload = b"".join(struct.pack("<Q", len(p)) + p for p in parts)
    path = snapshot_path(folder, snapshot.shard, sequence)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as handle:
        handle.write(_HEADER.pack(MAGIC, zlib.crc32(payload), len(payload)) + payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    fsync_dir(folder)
    for old in sorted(folder.glob(f"snapshot-shard-{snapshot.shard:04d}-*.arrow"))[:-keep]:
        old.unlink()
    for torn in folder.glob(f"snapshot-shard-{snapshot.shard:04d}-*.partial"):  # left by a crash mid-write
        torn.unlink()
    return path


def read_snapshot(path: Path) -> ShardSnapshot:
    """One snapshot file; ValueError when it is torn or damaged."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path}: shorter than its header")
    magic, crc, length = _HEADER.unpack_from(data)
    payload = data[_HEADER.size:]
    if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
        raise ValueError(f"{path}: torn or damaged (checksum or length does not match)")
    parts, at = [], 0
    while at < len(payload):
        (size,) = struct.unpack_from("<Q", payload, at)
        parts.append(payload[at + 8 : at + 8 + size])
        at += 8 + size
    meta = json.loads(parts[0])
    states = pa.ipc.open_stream(parts[1]).read_all()
    keys = pa.ipc.open_stream(parts[2]).read_all()
    return ShardSnapshot(
        meta["shard"], meta["n_shards"], meta["fingerprint"], LogPosition(meta["offset"], meta["tail_crc"]),
        _spaces_of(states), EventKeys(keys["key"].to_numpy(), keys["user"].to_numpy()),
    )


def latest_snapshot(folder: str | Path, shard: int) -> tuple[int, ShardSnapshot] | None:
    """The newest readable snapshot of `shard` and its sequence number; a torn one is skipped."""
    for path in sorted(Path(folder).glob(f"snapshot-shard-{shard:04d}-*.arrow"), reverse=True):
        try:
            return int(path.stem.rsplit("-", 1)[1]), read_snapshot(path)
        except (ValueError, OSError, pa.ArrowInvalid) as error:
            log.warning("shard %d: skipping snapshot %s: %s", shard, path.name, error)
    return None


class ShardSnapshots:
    """One shard's snapshots: the usable one to start from, and when to write the next
    (every `every` events logged; 0 = only after a deletion)."""

    def __init__(self, folder: str | Path, shard: int, n_shards: int, fingerprint: str, every: int) -> None:
        self.folder, self.shard, self.n_shards, self.fingerprint = Path(folder), shard, n_shards, fingerprint
        self.every, self.sequence, self.since = every, 0, 0

    def latest(self, log_path: Path) -> ShardSnapshot | None:
        """The newest snapshot this shard can resume from with `log_path` as it is now."""
        found = latest_snapshot(self.folder, self.shard)
        if found is None:
            return None
        self.sequence, snapshot = found
        if (snapshot.n_shards, snapshot.fingerprint) != (self.n_shards, self.fingerprint):
            log.info("shard %d: snapshot %d was made with another shard count or interest config: "
                     "rebuilding from the whole log", self.shard, self.sequence)
            return None
        if not snapshot.position.still_in(log_path):
            log.info("shard %d: the log was rewritten after snapshot %d: rebuilding from the whole log",
                     self.shard, self.sequence)
            return None
        return snapshot

    def remove_all(self) -> None:
        for path in self.folder.glob(f"snapshot-shard-{self.shard:04d}-*.arrow"):
            path.unlink()

    def due(self, logged: int) -> bool:
        """Count `logged` new events; whether a snapshot is due."""
        self.since += logged
        return 0 < self.every <= self.since

    def write(self, spaces: dict[str, dict[str, InterestState]], keys: EventKeys, log_path: Path,
              keep: int = KEEP) -> Path:
        """Snapshot `spaces` and `keys` as of the end of `log_path` (every append flushed), keeping `keep`."""
        self.sequence, self.since = self.sequence + 1, 0
        snapshot = ShardSnapshot(self.shard, self.n_shards, self.fingerprint, LogPosition.end_of(log_path),
                                 spaces, keys)
        return write_snapshot(self.folder, snapshot, self.sequence, keep)
