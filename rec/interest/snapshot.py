"""Snapshots of a user shard: its users' states in each vector space held, the event
keys it refuses again, and the point of its log file they include.

A shard that starts from a snapshot replays only its log after that point, so its
restart time is bounded by the events since the last snapshot, not by the whole log.

A snapshot is one file in `paths.snapshot_dir`, a local folder or object storage
(rec/storage/folders.py), that is there whole or not at all: a crash leaves the old
snapshot or the new one. It carries a checksum of its bytes,
so a torn or damaged file is detected; the shard then takes the one before it (the
last two are kept), and rebuilds from the whole log when none is usable. It is used
only when the log file still holds the bytes it read up to that point (a rewrite,
such as a user's deletion, changes them) and the states were folded with the same
interest config and shard count.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import logging
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from rec.interest.event_keys import EventKeys
from rec.interest.rule import InterestState
from rec.interest.state_tables import spaces_of, states_table
from rec.storage.folders import Folder, open_folder
from rec.storage.record_log import LogPosition, RecordLog

log = logging.getLogger(__name__)

MAGIC = b"RECSNAP1"
_HEADER = struct.Struct("<8sI3Q")  # magic, crc32 of the parts and their sizes, each part's size
KEEP = 2  # snapshots kept per shard: the newest, and the one before in case it is damaged
SUFFIX = ".arrow"


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


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while millions of lasting objects are made: its passes,
    triggered by the allocations themselves, would walk them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Checksummed:
    """A file that writes through to `handle`, counting the bytes and their crc32 as they pass."""

    def __init__(self, handle) -> None:
        self.handle, self.crc, self.size, self.closed = handle, 0, 0, False

    def write(self, data) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(memoryview(data))
        return self.handle.write(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:  # Arrow closes its stream; the file stays open for the next part
        pass


def snapshot_name(shard: int, sequence: int) -> str:
    return f"{_prefix(shard)}{sequence:012d}{SUFFIX}"


def _prefix(shard: int) -> str:
    return f"snapshot-shard-{shard:04d}-"


def write_snapshot(folder: str | Path, snapshot: ShardSnapshot, sequence: int, keep: int = KEEP) -> str:
    """Write `snapshot` durably as number `sequence` of its shard; older ones beyond `keep` go.
    Returns its name in the folder."""
    with paused_gc():
        return _write_snapshot(open_folder(folder), snapshot, sequence, keep)


def _write_snapshot(folder: Folder, snapshot: ShardSnapshot, sequence: int, keep: int) -> str:
    keys, users = snapshot.keys.compact()
    meta = {"shard": snapshot.shard, "n_shards": snapshot.n_shards, "fingerprint": snapshot.fingerprint,
            "offset": snapshot.position.offset, "tail_crc": snapshot.position.tail_crc}
    keys_table = pa.table({"key": pa.array(keys, pa.uint64()), "user": pa.array(users, pa.uint64())})
    parts = [json.dumps(meta).encode(), states_table(snapshot.spaces), keys_table]

    def write(handle) -> None:
        handle.write(bytes(_HEADER.size))  # filled in once the parts' sizes and checksum are known
        sink, sizes = _Checksummed(handle), []
        for part in parts:  # streamed into the file: a snapshot may be a GB, so never joined in memory
            before = sink.size
            if isinstance(part, bytes):
                sink.write(part)
            else:
                with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), part.schema) as writer:
                    writer.write_table(part)
            sizes.append(sink.size - before)
        handle.seek(0)
        handle.write(_HEADER.pack(MAGIC, zlib.crc32(struct.pack("<3Q", *sizes), sink.crc), *sizes))

    name = snapshot_name(snapshot.shard, sequence)
    folder.put(name, write)
    for old in folder.names(_prefix(snapshot.shard), SUFFIX)[:-keep]:
        folder.delete(old)
    for torn in folder.names(_prefix(snapshot.shard), ".partial"):  # left by a crash mid-write
        folder.delete(torn)
    return name


def read_snapshot(path: str | Path) -> ShardSnapshot:
    """One local snapshot file; ValueError when it is torn or damaged."""
    return _read_snapshot(Path(path).read_bytes(), str(path))


def _read_snapshot(data: bytes, name: str) -> ShardSnapshot:
    with paused_gc():
        return _parse_snapshot(data, name)


def _parse_snapshot(data: bytes, name: str) -> ShardSnapshot:
    if len(data) < _HEADER.size:
        raise ValueError(f"{name}: shorter than its header")
    magic, crc, *sizes = _HEADER.unpack_from(data)
    payload = memoryview(data)[_HEADER.size:]  # views, not copies, of what may be a GB
    if (magic != MAGIC or len(payload) != sum(sizes)
            or zlib.crc32(struct.pack("<3Q", *sizes), zlib.crc32(payload)) != crc):
        raise ValueError(f"{name}: torn or damaged (checksum or length does not match)")
    ends = list(itertools.accumulate(sizes))
    parts = [payload[end - size:end] for size, end in zip(sizes, ends)]
    meta = json.loads(bytes(parts[0]))
    states = pa.ipc.open_stream(pa.py_buffer(parts[1])).read_all()
    keys = pa.ipc.open_stream(pa.py_buffer(parts[2])).read_all()
    return ShardSnapshot(
        meta["shard"], meta["n_shards"], meta["fingerprint"], LogPosition(meta["offset"], meta["tail_crc"]),
        spaces_of(states), EventKeys(keys["key"].to_numpy(), keys["user"].to_numpy()),
    )


def latest_snapshot(folder: str | Path, shard: int) -> tuple[int, ShardSnapshot] | None:
    """The newest readable snapshot of `shard` and its sequence number; a torn one is skipped."""
    snapshots = open_folder(folder)
    for name in reversed(snapshots.names(_prefix(shard), SUFFIX)):
        try:
            return int(name.removesuffix(SUFFIX).rsplit("-", 1)[1]), _read_snapshot(snapshots.read(name), name)
        except (ValueError, OSError, pa.ArrowInvalid) as error:
            log.warning("shard %d: skipping snapshot %s: %s", shard, name, error)
    return None


class ShardSnapshots:
    """One shard's snapshots: the usable one to start from, and when to write the next
    (every `every` events logged; 0 = only after a deletion)."""

    def __init__(self, folder: str | Path, shard: int, n_shards: int, fingerprint: str, every: int) -> None:
        self.folder, self.shard, self.n_shards, self.fingerprint = folder, shard, n_shards, fingerprint
        self.every, self.sequence, self.since = every, 0, 0

    def latest(self, event_log: RecordLog) -> ShardSnapshot | None:
        """The newest snapshot this shard can resume from with its `event_log` as it is now."""
        found = latest_snapshot(self.folder, self.shard)
        if found is None:
            return None
        self.sequence, snapshot = found
        if (snapshot.n_shards, snapshot.fingerprint) != (self.n_shards, self.fingerprint):
            log.info("shard %d: snapshot %d was made with another shard count or interest config: "
                     "rebuilding from the whole log", self.shard, self.sequence)
            return None
        if not event_log.holds(snapshot.position):
            log.info("shard %d: the log was rewritten after snapshot %d: rebuilding from the whole log",
                     self.shard, self.sequence)
            return None
        return snapshot

    def remove_all(self) -> None:
        snapshots = open_folder(self.folder)
        for name in snapshots.names(_prefix(self.shard), SUFFIX):
            snapshots.delete(name)

    def due(self, logged: int) -> bool:
        """Count `logged` new events; whether a snapshot is due."""
        self.since += logged
        return 0 < self.every <= self.since

    def write(self, spaces: dict[str, dict[str, InterestState]], keys: EventKeys, event_log: RecordLog,
              keep: int = KEEP) -> str:
        """Snapshot `spaces` and `keys` as of the end of `event_log` (every append returned), keeping `keep`."""
        self.sequence, self.since = self.sequence + 1, 0
        snapshot = ShardSnapshot(self.shard, self.n_shards, self.fingerprint, event_log.end(),
                                 spaces, keys)
        return write_snapshot(self.folder, snapshot, self.sequence, keep)
