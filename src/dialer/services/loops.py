"""Periodic work, one tick at a time, under one error policy.

A tick is one pass of a loop's work (a pacing tick, a reaper pass, a heartbeat); it returns the
seconds to wait before the next one. A tick that raises is logged with the loop's name and the
loop backs off: 0.5 s after the first failure, twice as long after each further failure in a
row, never more than 5 s; then it goes on. A moment without the database or Redis must not end
a process whose next tick would succeed. A good tick resets the back-off.

A caller that must not go on after some errors passes ``on_error``: it is told of each failure
before anything is logged, and whatever it raises ends the loop with that error.

Cancelling the loop's task stops it at once, in a tick or in a pause. A ``stop`` event stops it
between ticks (a tick in flight finishes; a pause ends early), for processes that finish what
they hold before they exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0

Tick = Callable[[], Awaitable[float]]  # one pass; returns the seconds until the next
OnError = Callable[[Exception], None]  # raises to end the loop
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    """The pause after a failed tick: doubling with each failure in a row, capped."""

    first: float = FIRST_BACKOFF_SECONDS
    ceiling: float = MAX_BACKOFF_SECONDS
    failures: int = 0

    def failed(self) -> float:
        self.failures += 1
        return min(self.ceiling, self.first * 2.0 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


async def run_forever(
    name: str,
    tick: Tick,
    on_error: OnError | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
    stop: asyncio.Event | None = None,
    start_after: float = 0.0,
) -> None:
    """Run ``tick`` again and again, pausing as it asks, until cancelled or ``stop`` is set.
    ``start_after`` is a pause before the first tick; ``sleep`` is how to pause (a scaled
    clock's, or a test's)."""
    backoff = Backoff()
    if start_after > 0:
        await _pause(sleep, start_after, stop)
    while stop is None or not stop.is_set():
        pause = await _tick(name, tick, on_error, backoff)
        await _pause(sleep, pause, stop)


async def _tick(name: str, tick: Tick, on_error: OnError | None, backoff: Backoff) -> float:
    """One tick; the pause before the next (the tick's own, or the back-off's)."""
    try:
        pause = await tick()
    except Exception as exc:  # any failure of one tick; the next may succeed
        if on_error is not None:
            on_error(exc)
        delay = backoff.failed()
        log.warning("%s tick failed (%r); next in %.1f s", name, exc, delay, exc_info=exc)
        return delay
    backoff.succeeded()
    return pause


async def _pause(sleep: Sleep, seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    if stop is None or seconds <= 0:  # a zero pause only yields: nothing to cut short
        await sleep(seconds)
        return
    if stop.is_set():
        return
    sleeping = asyncio.ensure_future(sleep(seconds))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((sleeping, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeping.cancel()
        stopping.cancel()
    if sleeping.done() and not sleeping.cancelled():
        sleeping.result()  # a failing sleep is not swallowed
