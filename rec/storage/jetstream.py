"""Logs in a JetStream stream (`nats://host:port/STREAM`): one subject per log, in one
file-stored stream. A shard's record logs are `STREAM.<kind>.<shard>` (rec/storage/record_log.py);
the logs every ingress replica shares are `STREAM.<name>` (rec/storage/shared_log.py).

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import nats
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from rec.storage.record_log import LogPosition, stream_location

DUPLICATE_WINDOW_S = 120
_FETCH = 1000  # messages a read asks for at a time
_TIMEOUT_S = 30
_WRONG_LAST_SEQUENCE = 10071  # JetStream's error code: the subject did not end where the writer expected
_APPEND_TRIES = 100  # a shared-log writer that lost the race this often gives up


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

    async def publish_after(self, subject: str, payload: bytes, last: int) -> bool:
        """Publish if `subject`'s last message is still sequence `last` (0: none); False if it is not."""
        headers = {api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last)}
        try:
            await self.js.publish(subject, payload, stream=self.stream, headers=headers)
        except BadRequestError as error:
            if error.err_code == _WRONG_LAST_SEQUENCE:
                return False
            raise
        return True

    async def last_sequence(self, subject: str) -> int:
        """The stream sequence of `subject`'s last message (0: it has none)."""
        try:
            return (await self.js.get_last_msg(self.stream, subject)).seq
        except NotFoundError:
            return 0

    def messages(self, subjects: str, start: int, sequences: bool = False) -> Iterator[list]:
        """The payloads of `subjects`' messages from sequence `start`, batch by batch (each its own
        call, so a long log has no deadline as a whole); with `sequences`, (stream sequence, payload)
        pairs (parsing each message's metadata costs a third of a read)."""
        reader = _PullReader(self)
        self.run(reader.open(subjects, start))
        try:
            while batch := self.run(reader.next_batch()):
                yield [(m.metadata.sequence.stream, m.data) for m in batch] if sequences else [m.data for m in batch]
        finally:
            self.run(reader.close())

    async def delete(self, sequences: Sequence[int]) -> None:
        for sequence in sequences:
            await self.js.delete_msg(self.stream, sequence)  # erased: overwritten in the stream's files

    async def end(self) -> LogPosition:
        """The stream's last sequence number, and a checksum of when it was created (a stream
        made again under the same name is another one)."""
        info = await self.js.stream_info(self.stream)
        return LogPosition(info.state.last_seq, zlib.crc32(str(info.created).encode()))


class _PullReader:
    """An ephemeral pull consumer, read through a plain subscription of its own. nats-py's
    fetch() waits for each message of a batch in turn, with a timer each; a callback that
    collects the batch reads about four times faster (docs/performance.md)."""

    def __init__(self, stream: JetStream) -> None:
        self.stream, self.js, self.connection = stream, stream.js, stream.connection
        self._batch: list = []
        self._wanted, self._done = 0, asyncio.Event()

    async def open(self, subjects: str, start: int) -> None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if start > 1 else api.DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None, ack_policy=api.AckPolicy.NONE,
            filter_subject=subjects, inactive_threshold=60, mem_storage=True,
        )
        info = await self.js.add_consumer(self.stream.stream, config)
        self.name, self.left = info.name, info.num_pending

    async def _take(self, msg: Any) -> None:
        if msg.headers and msg.headers.get(api.Header.STATUS):  # 404/408: no more for this request
            self._done.set()
            return
        self._batch.append(msg)
        if len(self._batch) >= self._wanted:
            self._done.set()

    async def next_batch(self) -> list:
        """The next messages (at most _FETCH); none once every message there at open() was read."""
        if self.left <= 0:
            return []
        self._batch, self._wanted, self._done = [], min(self.left, _FETCH), asyncio.Event()
        inbox = self.connection.new_inbox()  # one a request: nothing meant for an earlier one lands here
        subscription = await self.connection.subscribe(inbox, cb=self._take)
        try:
            request = json.dumps({"batch": self._wanted, "no_wait": True}).encode()
            await self.connection.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream.stream}.{self.name}", request,
                                          reply=inbox)
            await asyncio.wait_for(self._done.wait(), _TIMEOUT_S)
        finally:
            await subscription.unsubscribe()
        batch, self._batch = self._batch, []
        self.left = self.left - len(batch) if batch else 0  # none at all: the rest were deleted meanwhile
        return batch

    async def close(self) -> None:
        try:
            await self.js.delete_consumer(self.stream.stream, self.name)
        except NotFoundError:
            pass


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


def delete_stream(location: str) -> None:
    """Delete the stream at `location` if it is there, and close this process's client of it."""
    stream = client(location)
    try:
        stream.run(stream.js.delete_stream(stream.stream))
    except NotFoundError:
        pass
    close_client(location)


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


class JetStreamSharedLog:
    """A SharedLog (rec/storage/shared_log.py) on one subject, `STREAM.<name>`: each append
    is one message holding its records, so a reader sees all of them or none."""

    def __init__(self, location: str, name: str) -> None:
        self.stream = client(location)
        self.subject = f"{self.stream.stream}.{name}"
        self._last = 0  # the sequence of the last message read

    def read_appended(self) -> tuple[list[dict[str, Any]], bool]:
        last = self.stream.run(self.stream.last_sequence(self.subject))  # one round trip when nothing is new
        if last == self._last:
            return [], False
        restarted = last < self._last  # the stream was made again
        if restarted:
            self._last = 0
        records: list[dict[str, Any]] = []
        for batch in self.stream.messages(self.subject, self._last + 1, sequences=True):
            for sequence, payload in batch:
                records.extend(json.loads(payload))
                self._last = sequence
        return records, restarted

    def append(self, decide: Callable[[list[dict[str, Any]], bool], Sequence[dict[str, Any]]]) -> None:
        for _ in range(_APPEND_TRIES):
            records = decide(*self.read_appended())
            if not records or self.stream.run(self.stream.publish_after(self.subject, _encode(records), self._last)):
                return
        raise RuntimeError(f"{self.subject}: another writer appended first {_APPEND_TRIES} times in a row")


def read_all_subjects(location: str, kind: str) -> Iterator[dict[str, Any]]:
    """The records of every shard's subject of `kind`, in stream order."""
    stream = client(location)
    for batch in stream.messages(f"{stream.stream}.{kind}.*", 1):
        yield from map(json.loads, batch)


def _encode(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()
