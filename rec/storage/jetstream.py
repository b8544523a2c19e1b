"""Record logs in a JetStream stream (`nats://host:port/STREAM`): one subject per log,
`STREAM.<kind>.<shard>`, in one file-stored stream.

- An append publishes every record and returns when the server has acknowledged all
  of them: they are in the stream's files before the caller acks its client. (A
  single server writes them to the OS at once and fsyncs every `sync_interval`,
  2 minutes by default: run JetStream replicated, or with `sync_interval: always`,
  to survive the loss of the machine, not only of a process.)
- A record sent with an id is refused within the stream's duplicate window (2
  minutes) if the same id was stored; the shard checks ids itself after that.
- `remove_user` erases the user's messages by sequence number (JetStream's secure
  delete overwrites them in its files); the rest keep their numbers, so a reader's
  position stays valid.

`?max_age_days=D` on the location sets the stream's retention: JetStream drops messages
older than that (docs/operations.md says what a shard then forgets).

nats-py is asyncio; the shards are not. Each process keeps one connection per server
on an event loop thread of its own, and calls wait on it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import nats
from nats.js import api
from nats.js.errors import NotFoundError

from rec.storage.record_log import LogPosition, stream_location

DUPLICATE_WINDOW_S = 120
_FETCH = 1000  # messages a read asks for at a time
_TIMEOUT_S = 30


class JetStream:
    """A blocking client of one server's stream: nats-py on an event loop thread of its own."""

    def __init__(self, url: str, stream: str, max_age_s: float | None = None) -> None:
        self.stream, self.max_age_s = stream, max_age_s
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name=f"jetstream-{stream}", daemon=True).start()
        self.connection = self.run(nats.connect(url, connect_timeout=5, max_reconnect_attempts=-1))
        self.js = self.connection.jetstream(timeout=_TIMEOUT_S)
        self.run(self._ensure_stream())

    def run(self, coroutine: Any) -> Any:
        """Run `coroutine` on the client's loop and wait for it (at most a few round trips' deadline)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_TIMEOUT_S * 2)

    async def _ensure_stream(self) -> None:
        """Create the stream, or give it the retention asked for (None: keep every message)."""
        window = min(DUPLICATE_WINDOW_S, self.max_age_s or DUPLICATE_WINDOW_S)  # JetStream's rule
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(
                name=self.stream, subjects=[f"{self.stream}.>"], storage=api.StorageType.FILE,
                duplicate_window=window, max_age=self.max_age_s,
            )
            return
        if (info.config.max_age or None) != self.max_age_s:
            await self.js.update_stream(info.config.evolve(max_age=self.max_age_s or 0, duplicate_window=window))

    async def publish_all(self, subject: str, payloads: Sequence[bytes], ids: Sequence[str] | None) -> None:
        """Publish in order, pipelined; returns when every one is acknowledged (raises if any is not)."""
        pending = [
            await self.js.publish_async(subject, payload, stream=self.stream,
                                        headers={api.Header.MSG_ID: ids[i]} if ids else None)
            for i, payload in enumerate(payloads)
        ]
        for ack in await asyncio.gather(*pending):
            if not ack.seq:
                raise RuntimeError(f"JetStream did not store a message on {subject}: {ack}")

    def messages(self, subjects: str, start: int, sequences: bool = False) -> Iterator[list]:
        """The payloads of `subjects`' messages from sequence `start`, batch by batch (each its own
        call, so a long log has no deadline as a whole); with `sequences`, (stream sequence, payload)
        pairs (parsing each message's metadata costs a third of a read)."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if start > 1 else api.DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None, ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60, mem_storage=True,
        )
        subscription = self.run(self.js.pull_subscribe(subjects, stream=self.stream, config=config))
        try:
            left = self.run(subscription.consumer_info()).num_pending
            while left > 0:
                batch = self.run(subscription.fetch(min(left, _FETCH), timeout=_TIMEOUT_S))
                yield [(m.metadata.sequence.stream, m.data) for m in batch] if sequences else [m.data for m in batch]
                left = batch[-1].metadata.num_pending if batch else 0
        finally:
            self.run(subscription.unsubscribe())

    async def delete(self, sequences: Sequence[int]) -> None:
        for sequence in sequences:
            await self.js.delete_msg(self.stream, sequence)  # erased: overwritten in the stream's files

    async def end(self) -> LogPosition:
        """The stream's last sequence number, and a checksum of when it was created (a stream
        made again under the same name is another one)."""
        info = await self.js.stream_info(self.stream)
        return LogPosition(info.state.last_seq, zlib.crc32(str(info.created).encode()))


_clients: dict[tuple[str, str], JetStream] = {}
_clients_lock = threading.Lock()


def client(location: str) -> JetStream:
    """The process's client of the stream at `location` (nats://host:port/STREAM)."""
    server, stream, max_age_s = stream_location(location)
    with _clients_lock:
        if (server, stream) not in _clients:
            _clients[server, stream] = JetStream(server, stream, max_age_s)
        return _clients[server, stream]


def close_client(location: str) -> None:
    """Close the process's client of `location`'s stream; the next use connects again."""
    with _clients_lock:
        stream = _clients.pop(stream_location(location)[:2], None)
    if stream is not None:
        stream.run(stream.connection.close())


class JetStreamRecordLog:
    """A RecordLog on one subject of a JetStream stream (rec/storage/record_log.py)."""

    path = None
    refuses_resent_ids = True

    def __init__(self, location: str, kind: str, shard: int) -> None:
        self.stream = client(location)
        self.subject = f"{self.stream.stream}.{kind}.{shard:04d}"

    def append(self, records: Sequence[dict[str, Any]], ids: Sequence[str] | None = None) -> None:
        if records:
            self.stream.run(self.stream.publish_all(self.subject, [_encode(r) for r in records], ids))

    def records(self, after: LogPosition | None = None) -> Iterator[dict[str, Any]]:
        for batch in self.stream.messages(self.subject, after.offset + 1 if after else 1):
            yield from map(json.loads, batch)

    def end(self) -> LogPosition:
        return self.stream.run(self.stream.end())

    def holds(self, position: LogPosition) -> bool:
        end = self.end()
        return end.tail_crc == position.tail_crc and end.offset >= position.offset

    def remove_user(self, user_id: str) -> int:
        batches = self.stream.messages(self.subject, 1, sequences=True)
        theirs = [seq for batch in batches for seq, payload in batch if json.loads(payload)["user_id"] == user_id]
        self.stream.run(self.stream.delete(theirs))
        return len(theirs)

    def close(self) -> None:
        pass  # the connection is the process's, shared by its logs


def read_all_subjects(location: str, kind: str) -> Iterator[dict[str, Any]]:
    """The records of every shard's subject of `kind`, in stream order."""
    stream = client(location)
    for batch in stream.messages(f"{stream.stream}.{kind}.*", 1):
        yield from map(json.loads, batch)


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()
