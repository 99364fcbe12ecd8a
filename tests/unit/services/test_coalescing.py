"""Group commit without a timer: concurrent requests share a write, each gets its answer."""

from __future__ import annotations

import asyncio

import pytest

from dialer.services.coalescing import Coalescer


class Doubler:
    """A write that records the batches it was given, and may be told to fail."""

    def __init__(self, delay: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail_with: Exception | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return [2 * item for item in items]


async def test_requests_of_one_turn_share_one_write_and_get_their_own_answers() -> None:
    write = Doubler()
    coalescer = Coalescer(write)
    answers = await asyncio.gather(*(coalescer.submit(i) for i in range(50)))
    assert answers == [2 * i for i in range(50)]
    assert write.batches == [list(range(50))]


async def test_requests_arriving_during_a_write_go_together_in_the_next() -> None:
    write = Doubler(delay=0.05)
    coalescer = Coalescer(write)
    first = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0.01)  # the first write is in progress
    later = [asyncio.create_task(coalescer.submit(i)) for i in range(1, 21)]
    assert await asyncio.gather(first, *later) == [2 * i for i in range(21)]
    assert write.batches == [[0], list(range(1, 21))]


async def test_a_lone_request_is_written_at_once() -> None:
    write = Doubler(delay=0)
    coalescer = Coalescer(write)
    assert await asyncio.wait_for(coalescer.submit(7), timeout=0.5) == 14
    assert await coalescer.submit(8) == 16
    assert write.batches == [[7], [8]]


async def test_batches_are_no_larger_than_the_limit() -> None:
    write = Doubler(delay=0)
    coalescer = Coalescer(write, max_batch=8)
    answers = await asyncio.gather(*(coalescer.submit(i) for i in range(20)))
    assert answers == [2 * i for i in range(20)]
    assert [len(b) for b in write.batches] == [8, 8, 4]


async def test_a_failed_write_fails_each_of_its_requests_and_not_the_next() -> None:
    write = Doubler()
    coalescer = Coalescer(write)
    write.fail_with = ConnectionError("store down")
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    write.fail_with = None
    assert await coalescer.submit(5) == 10


async def test_a_caller_that_gives_up_does_not_stop_the_others() -> None:
    write = Doubler(delay=0.05)
    coalescer = Coalescer(write)
    impatient = asyncio.create_task(coalescer.submit(1))
    patient = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await patient == 4


def test_a_coalescer_outlives_its_event_loop() -> None:
    """Tests and the CLI run several loops one after the other with the same services."""
    write = Doubler(delay=0)
    coalescer = Coalescer(write)
    assert asyncio.run(coalescer.submit(1)) == 2
    assert asyncio.run(coalescer.submit(2)) == 4
