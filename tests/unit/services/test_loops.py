"""run_forever: pauses as each tick asks, backs off after failures, stops when told."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import pytest

from dialer.services.loops import MAX_BACKOFF_SECONDS, run_forever


class Boom(Exception):
    pass


class Ticks:
    """A scripted tick: each step is a pause to return or an error to raise. After the last
    step it sets ``stop``, so the loop ends after that tick."""

    def __init__(self, steps: Iterable[float | Exception], stop: asyncio.Event) -> None:
        self.steps = list(steps)
        self.stop = stop
        self.calls = 0

    async def __call__(self) -> float:
        step = self.steps[self.calls]
        self.calls += 1
        if self.calls == len(self.steps):
            self.stop.set()
        if isinstance(step, Exception):
            raise step
        return step


class Pauses:
    """A sleep that takes no time and remembers how long it was asked for."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def never_ending() -> Callable[[float], asyncio.Future[None]]:
    """A sleep that lasts until it is cancelled."""
    return lambda _seconds: asyncio.get_running_loop().create_future()


async def test_each_pause_is_the_one_the_tick_asked_for() -> None:
    stop, pauses = asyncio.Event(), Pauses()
    ticks = Ticks([0.0, 2.5, 1.0], stop)
    await run_forever("dispatcher", ticks, sleep=pauses, stop=stop)
    assert ticks.calls == 3
    assert pauses.asked == [0.0, 2.5]  # the last pause was cut short by stop


async def test_a_failed_tick_is_logged_with_the_loops_name_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    ticks = Ticks([Boom("database down"), 3.0], stop)
    with caplog.at_level(logging.WARNING, logger="dialer.services.loops"):
        await run_forever("reaper", ticks, sleep=Pauses(), stop=stop)
    assert ticks.calls == 2
    assert "reaper tick failed (Boom('database down')); next in 0.5 s" in caplog.messages


async def test_the_back_off_doubles_is_capped_and_resets_after_a_good_tick() -> None:
    stop, pauses = asyncio.Event(), Pauses()
    failures: list[float | Exception] = [Boom() for _ in range(6)]
    ticks = Ticks([*failures, 7.0, Boom(), 1.0], stop)
    await run_forever("reconciler", ticks, sleep=pauses, stop=stop)
    assert pauses.asked == [0.5, 1.0, 2.0, 4.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, 7.0, 0.5]


async def test_on_error_is_told_of_each_failure_and_what_it_raises_ends_the_loop() -> None:
    stop, told = asyncio.Event(), []
    ticks = Ticks([Boom("first"), TypeError("a bug"), 1.0], stop)

    def stop_on_bugs(exc: Exception) -> None:
        told.append(exc)
        if not isinstance(exc, Boom):
            raise exc

    with pytest.raises(TypeError, match="a bug"):
        await run_forever("watch", ticks, stop_on_bugs, sleep=Pauses(), stop=stop)
    assert [str(exc) for exc in told] == ["first", "a bug"]
    assert ticks.calls == 2


async def test_start_after_pauses_before_the_first_tick() -> None:
    stop, pauses = asyncio.Event(), Pauses()
    await run_forever("reaper", Ticks([4.0], stop), sleep=pauses, stop=stop, start_after=4.0)
    assert pauses.asked == [4.0]


async def test_stop_ends_a_pause_early() -> None:
    stop = asyncio.Event()
    ticks = Ticks([60.0, 1.0], asyncio.Event())  # the ticks never set stop themselves
    loop = asyncio.create_task(run_forever("heartbeat", ticks, sleep=never_ending(), stop=stop))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(loop, 1)  # a guard: the sleep would never end by itself
    assert ticks.calls == 1


async def test_cancelling_stops_the_loop_in_its_pause() -> None:
    ticks = Ticks([60.0, 1.0], asyncio.Event())
    loop = asyncio.create_task(run_forever("dispatcher", ticks, sleep=never_ending()))
    await asyncio.sleep(0)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert ticks.calls == 1


async def test_cancelling_stops_the_loop_in_a_tick() -> None:
    started = asyncio.Event()

    async def endless_tick() -> float:
        started.set()
        await asyncio.get_running_loop().create_future()
        return 0.0

    loop = asyncio.create_task(run_forever("dispatcher", endless_tick, sleep=Pauses()))
    await started.wait()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
