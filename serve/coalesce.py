"""Coalesced calls: the asks made while one call is on its way go together in the next one.

A call to a user shard costs a Serve hop (two serialisations, a round trip
through Ray) whatever it carries, and an event call costs an fsync. Under
load, many requests wait on the same shard at once; sending their asks in
one call makes the hop, and the fsync, one for all of them (group commit).
Alone, an ask is sent at once: nothing waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Ask = TypeVar("Ask")
Answer = TypeVar("Answer")


class Coalescer(Generic[Ask, Answer]):
    """`ask(a)` answers with `send`'s answer to it; `send(asks)` gets every ask made since
    the last call was sent (at most `max_asks`) and answers them in order. One call is on
    its way at a time, so asks reach the far side in the order they were made."""

    def __init__(self, send: Callable[[list[Ask]], Awaitable[Sequence[Answer]]], max_asks: int = 64) -> None:
        self.send, self.max_asks = send, max_asks
        self.waiting: list[tuple[Ask, asyncio.Future]] = []
        self.sending: asyncio.Task | None = None

    async def ask(self, ask: Ask) -> Answer:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((ask, future))
        if self.sending is None:
            self.sending = loop.create_task(self._send_all())
        return await future

    async def _send_all(self) -> None:
        batch: list[tuple[Ask, asyncio.Future]] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:self.max_asks], self.waiting[self.max_asks:]
                try:
                    answers = await self.send([ask for ask, _ in batch])
                    if len(answers) != len(batch):
                        raise RuntimeError(f"{len(answers)} answers to {len(batch)} asks")
                except Exception as exc:  # every ask of the call fails with it
                    _fail(batch, exc)
                    continue
                for (_, future), answer in zip(batch, answers):
                    if not future.done():  # a caller that went away (a closed connection) is skipped
                        future.set_result(answer)
        except BaseException as exc:  # cancelled (the replica stops): no caller is left waiting
            _fail([*batch, *self.waiting], exc)
            self.waiting = []
            raise
        finally:
            self.sending = None


def _fail(asked: Sequence[tuple[object, asyncio.Future]], exc: BaseException) -> None:
    for _, future in asked:
        if not future.done():
            future.set_exception(exc)


def runs_of(asks: Sequence[Ask], key: Callable[[Ask], object]) -> list[list[Ask]]:
    """`asks` cut into runs of consecutive asks with one key (kept in order)."""
    runs: list[list[Ask]] = []
    for ask in asks:
        if runs and key(runs[-1][0]) == key(ask):
            runs[-1].append(ask)
        else:
            runs.append([ask])
    return runs
