"""Events per second one user shard can log, on each event-log backend: JSON-lines files
(fsync per append) and JetStream (the NATS server on 127.0.0.1:4222, ack per append).

Appends go through EventLogWriter, as the shard's do; then the whole log is read back,
as a shard's restart replays it. A batch of 1 is one request's event
under no load; larger batches are what group commit makes of concurrent requests (one
append, one fsync or one round of acks, for all of them).

    PYTHONPATH=.:tests .venv/bin/python scripts/bench_event_log.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from jetstream_server import delete_stream, new_stream_location
from rec.storage.event_log import EventLogWriter, LoggedEvent

BATCHES = (1, 8, 64)


def measure(writer: EventLogWriter, batch: int, seconds: float) -> tuple[float, float]:
    """(events/s, median ms per append) over about `seconds`."""
    took, n = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        events = [LoggedEvent(uuid.uuid4().hex, f"user-{(n + i) % 997}", f"item-{i}", "like", time.time(), time.time())
                  for i in range(batch)]
        started = time.perf_counter()
        writer.append(events)
        took.append(time.perf_counter() - started)
        n += batch
    return n / sum(took), statistics.median(took) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per backend and batch size")
    args = parser.parse_args()
    rows, replays = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        stream = new_stream_location()
        try:
            for backend, location in (("jsonl", Path(folder)), ("jetstream", stream)):
                writer = EventLogWriter(location, 0)
                for batch in BATCHES:
                    rows[backend, batch] = measure(writer, batch, args.seconds)
                started = time.perf_counter()
                n = sum(1 for _ in writer.read())
                replays[backend] = (n, n / (time.perf_counter() - started))
                writer.close()
        finally:
            delete_stream(stream)
    print("| backend | batch | events/s | ms per append (median) |")
    print("|---|---|---|---|")
    for (backend, batch), (rate, ms) in rows.items():
        print(f"| {backend} | {batch} | {rate:,.0f} | {ms:.2f} |")
    for backend, (n, rate) in replays.items():
        print(f"replay {backend}: {n:,} events read back at {rate:,.0f} events/s (a restart without a snapshot)")
    ratios = " ".join(f"batch {b} {rows['jetstream', b][0] / rows['jsonl', b][0]:.2f}" for b in BATCHES)
    print(f"event log: jetstream / jsonl events/s, {ratios}")


if __name__ == "__main__":
    main()
