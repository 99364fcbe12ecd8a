"""Simulated time: ``speed`` simulated seconds pass per real second."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class SimClock:
    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.monotonic()

    def elapsed(self) -> float:
        """Simulated seconds since the clock was made (monotonic)."""
        return (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        await asyncio.sleep(seconds / self.speed)

    def real(self, seconds: float) -> float:
        """Simulated seconds as real seconds."""
        return seconds / self.speed

    @staticmethod
    def wall() -> datetime:
        """The real date and time, for timestamps a client compares with its own clock."""
        return datetime.now(UTC)


class TokenBucket:
    """At most ``rate`` takes per simulated second, bursts up to ``rate`` (at least 1)."""

    def __init__(self, clock: SimClock, rate: float) -> None:
        self._clock = clock
        self._tokens = max(rate, 1.0)
        self._stamp = clock.elapsed()

    def take(self, rate: float) -> float | None:
        """Take one token at the current ``rate``: None when taken, else the simulated seconds
        until one is free."""
        now = self._clock.elapsed()
        capacity = max(rate, 1.0)
        self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate
