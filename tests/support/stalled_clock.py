"""A clock whose sleeps cannot end inside a stall: what an event loop held up (by a long
computation, a slow commit, an overloaded machine) does to every task waiting on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from dialer.ports import Clock


class StalledClock:
    def __init__(self, inner: Clock) -> None:
        self.inner = inner
        self.stalled_until: datetime | None = None

    def now(self) -> datetime:
        return self.inner.now()

    def timestamp(self) -> float:
        return self.now().timestamp()

    def stall(self, seconds: float) -> None:
        """From now on, for ``seconds``: every sleep ends at the stall's end at the earliest."""
        self.stalled_until = self.inner.now() + timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        now = self.inner.now()
        if self.stalled_until is not None and now + timedelta(seconds=seconds) < self.stalled_until:
            seconds = (self.stalled_until - now).total_seconds()
        await self.inner.sleep(seconds)


def densest(instants: Sequence[float], width: float) -> int:
    """The most instants in any half-open window of ``width`` seconds."""
    ordered, best, first = sorted(instants), 0, 0
    for last, instant in enumerate(ordered):
        while instant - ordered[first] >= width:
            first += 1
        best = max(best, last - first + 1)
    return best
