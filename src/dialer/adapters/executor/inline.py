"""Inline execution: originations run as asyncio tasks in this process (the embedded default).

In-flight provider requests are bounded, so a slow provider queues work here instead of
opening unbounded connections. Each job runs as a worker runs it (``run_origination``:
transient database errors retried with back-off, DIALER_JOB_RETRIES times); a job that still
fails becomes a dead letter with its cause and payload, as under Celery, so `dialer dlq` lists
and replays it in every mode. Its attempt is settled meanwhile by the automatic paths."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from dialer.ports import Origination
from dialer.ports.jobs import JobFailure, JobOutcome

log = logging.getLogger(__name__)

RunJob = Callable[[Origination], Awaitable[JobOutcome | JobFailure]]
StoreDeadLetters = Callable[[Sequence[JobFailure]], Awaitable[None]]
LETTER_TRIES = 3  # a dead letter the database refused is tried again, after 0.5 s, then 1 s
LETTER_BACKOFF = 0.5


class InlineExecutor:
    def __init__(
        self,
        run_job: RunJob,
        store_dead_letters: StoreDeadLetters,
        max_in_flight: int = 200,
        *,
        letter_backoff: float = LETTER_BACKOFF,
    ) -> None:
        self._run_job = run_job
        self._store_dead_letters = store_dead_letters
        self._letter_backoff = letter_backoff
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
            outcome = await self._run_job(job)
        if isinstance(outcome, JobFailure):
            self.failures += 1
            await self._dead_letter(job, outcome)

    async def _dead_letter(self, job: Origination, failure: JobFailure) -> None:
        for tries in range(1, LETTER_TRIES + 1):
            try:
                await self._store_dead_letters([failure])
                return
            except Exception:
                if tries == LETTER_TRIES:
                    log.exception(
                        "attempt %s failed (%s) and its dead letter could not be stored; "
                        "the reaper will settle it",
                        job.attempt_id,
                        failure.cause,
                    )
                    return
                await asyncio.sleep(self._letter_backoff * 2 ** (tries - 1))

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
