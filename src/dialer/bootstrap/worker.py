"""A Celery worker's runtime: opened once per process, with the worker's retries in place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

from dialer.bootstrap import Runtime, job_policy, open_runtime
from dialer.errors import AdmissionUnavailable
from dialer.services.batches import (
    run_batch,
)
from dialer.services.heartbeat import Heartbeat
from dialer.services.housekeeping import HousekeepingPolicy, housekeeping
from dialer.services.provider_prices import PricePolicy
from dialer.services.retrying import OwnCallsOnly, RetryingAdmission, RetryingTelephony
from dialer.settings import Settings


def admission_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, AdmissionUnavailable)


@asynccontextmanager
async def open_worker_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The usual runtime, with the worker's retries in place — creates the provider certainly
    did not perform, releases Redis did not answer — and provider lookups that never adopt
    another attempt's call (see ``services.retrying``)."""
    async with open_runtime(settings) as runtime:
        services = runtime.services
        retries, backoff = settings.job_retries, settings.job_retry_backoff_seconds
        lookup_safe = OwnCallsOnly(services.telephony, services.store)
        services.telephony = RetryingTelephony(lookup_safe, retries, backoff)
        services.admission = RetryingAdmission(
            services.admission, admission_unavailable, retries, backoff
        )
        yield runtime


class WorkerRuntime:
    """What one worker process keeps between Celery tasks: its runtime, opened once, and its
    heartbeat; the tasks (``adapters.executor.celery_worker``) run its methods."""

    def __init__(self, settings: Settings, node: str) -> None:
        self.settings = settings
        self.policy = job_policy(settings)
        self.heartbeat = Heartbeat("worker", node, settings.heartbeat_seconds)
        self._stack = AsyncExitStack()
        self._runtime: Runtime | None = None
        self._opening = asyncio.Lock()
        self._stop = asyncio.Event()
        self._beats: asyncio.Task[None] | None = None

    async def open(self) -> Runtime:
        async with self._opening:
            if self._runtime is None:
                self._runtime = await self._stack.enter_async_context(
                    open_worker_runtime(self.settings)
                )
                self._beats = asyncio.create_task(
                    self.heartbeat.run(self._runtime.store, self._stop)
                )
        return self._runtime

    async def originate(self, jobs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        runtime = await self.open()
        report = await run_batch(runtime.services, jobs, self.policy)
        self.heartbeat.count(processed=report.processed, failed=report.failed)
        return dict(report.outcomes)

    async def reap(self) -> int:
        return await (await self.open()).reaper.run_once()

    async def reconcile(self) -> dict[str, Any]:
        return vars(await (await self.open()).reconciler.run_once())

    async def housekeeping(self) -> dict[str, int]:
        settings = self.settings
        policy = HousekeepingPolicy(
            unsent_grace=settings.unsent_grace_seconds,
            quiet=settings.quiet_call_seconds,
            heartbeat_retention=settings.heartbeat_retention_seconds,
            prices=PricePolicy(every=settings.housekeeping_seconds),
        )
        return vars(await housekeeping((await self.open()).services, policy))

    async def close(self) -> None:
        self._stop.set()
        if self._beats is not None:
            await self._beats
        await self._stack.aclose()


def serve_worker(
    settings: Settings, *, name: str, queues: Sequence[str], concurrency: int, loglevel: str
) -> int:
    """Run a Celery worker whose processes each keep a ``WorkerRuntime``; its exit code."""
    # Imported here, so that only deployments with a broker load Celery.
    from dialer.adapters.executor.celery_worker import node_name, run_worker

    node = node_name(name)
    return run_worker(
        settings,
        partial(WorkerRuntime, settings, node),
        node=node,
        queues=queues,
        concurrency=concurrency,
        loglevel=loglevel,
    )
