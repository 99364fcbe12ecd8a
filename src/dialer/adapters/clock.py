"""Clocks: the wall clock, and a scaled clock for simulated time (demos, tests, planning)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timestamp(self) -> float:
        return time.time()


class ScaledClock:
    """Time that starts at ``start`` and runs ``speed`` times faster than real time.

    The simulator is given the same speed, so ring times, talk times, retry delays and calling
    windows all agree: at speed 60, one real second is one simulated minute."""

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    def timestamp(self) -> float:
        return self.now().timestamp()


class ManualClock:
    """Time that moves only when told: ``sleep`` and ``advance`` move it forward at once.

    For stepping the dispatcher and reaper one tick at a time (tests, the planner)."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def timestamp(self) -> float:
        return self.current.timestamp()
