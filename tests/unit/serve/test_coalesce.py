"""Tests for serve.coalesce: asks made while a call is on its way go together, in order."""

from __future__ import annotations

import asyncio

import pytest

from serve.coalesce import Coalescer, runs_of


class _Far:
    """The far side: records each call's asks, answers each ask doubled after a pause."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on

    async def send(self, asks: list[int]) -> list[int]:
        self.calls.append(asks)
        await asyncio.sleep(0.01)
        if self.fail_on in asks:
            raise ValueError(f"refused {self.fail_on}")
        return [2 * a for a in asks]


def test_an_ask_alone_is_sent_at_once():
    far = _Far()
    coalescer = Coalescer(far.send)
    assert asyncio.run(coalescer.ask(3)) == 6
    assert far.calls == [[3]]


def test_asks_made_while_a_call_is_out_go_in_the_next_call_in_order():
    far = _Far()

    async def main() -> list[int]:
        coalescer = Coalescer(far.send)
        first = asyncio.create_task(coalescer.ask(0))
        await asyncio.sleep(0)  # the first call is on its way
        rest = [asyncio.create_task(coalescer.ask(n)) for n in range(1, 6)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]
    assert far.calls == [[0], [1, 2, 3, 4, 5]]


def test_a_call_takes_at_most_max_asks():
    far = _Far()

    async def main() -> list[int]:
        coalescer = Coalescer(far.send, max_asks=2)
        return await asyncio.gather(*(coalescer.ask(n) for n in range(5)))

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert [len(call) for call in far.calls] == [2, 2, 1]


def test_a_failed_call_fails_its_asks_only():
    far = _Far(fail_on=1)

    async def main() -> list:
        coalescer = Coalescer(far.send, max_asks=2)
        return await asyncio.gather(*(coalescer.ask(n) for n in range(4)), return_exceptions=True)

    first, second, third, fourth = asyncio.run(main())
    assert isinstance(first, ValueError) and isinstance(second, ValueError)
    assert (third, fourth) == (4, 6)


def test_a_wrong_number_of_answers_is_an_error_not_a_mismatch():
    async def short(asks: list[int]) -> list[int]:
        return asks[:-1]

    async def main() -> list:
        coalescer = Coalescer(short)
        return await asyncio.gather(*(coalescer.ask(n) for n in range(3)), return_exceptions=True)

    assert all(isinstance(answer, RuntimeError) for answer in asyncio.run(main()))


def test_a_caller_that_went_away_does_not_stop_the_others():
    far = _Far()

    async def main() -> tuple:
        coalescer = Coalescer(far.send)
        gone = asyncio.create_task(coalescer.ask(1))
        kept = asyncio.create_task(coalescer.ask(2))
        await asyncio.sleep(0)
        gone.cancel()
        return await asyncio.gather(gone, kept, return_exceptions=True)

    gone, kept = asyncio.run(main())
    assert isinstance(gone, asyncio.CancelledError) and kept == 4


@pytest.mark.parametrize("asks, runs", [
    ([], []),
    ([("a", 1), ("a", 2), ("b", 3), ("a", 4)], [[("a", 1), ("a", 2)], [("b", 3)], [("a", 4)]]),
])
def test_runs_of_keeps_order_and_cuts_where_the_key_changes(asks, runs):
    assert runs_of(asks, lambda ask: ask[0]) == runs
