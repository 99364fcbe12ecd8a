"""Inline execution: originations run as asyncio tasks in this process (the embedded default).

In-flight provider requests are bounded, so a slow provider queues work here instead of
opening unbounded connections; a failure in one origination is logged, never lost silently:
its attempt stays live until the reaper settles it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from dialer.ports import Origination

log = logging.getLogger(__name__)


class InlineExecutor:
    def __init__(
        self, originate: Callable[[Origination], Awaitable[None]], max_in_flight: int = 200
    ) -> None:
        self._originate = originate
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures = 0

    async def submit(self, batch: Sequence[Origination]) -> None:
        for job in batch:
            task = asyncio.create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Origination) -> None:
        async with self._slots:
            try:
                await self._originate(job)
            except Exception:
                self.failures += 1
                log.exception(
                    "origination of attempt %s failed; the reaper will settle it", job.attempt_id
                )

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
