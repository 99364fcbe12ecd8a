"""The worker side of a distributed deployment: the Celery tasks, and what each worker
process keeps between tasks.

Each worker process (Celery's prefork pool: one task at a time per process) runs an event
loop on a thread of its own, where the runtime — store, telephony, admission — is opened once
and reused by every task, and where the process's heartbeat runs even while it is idle. A
task hands its coroutine to that loop and waits for it.

Tasks:

* ``dialer.originate_batch(jobs)``: ``services.batches.run_batch``. If the batch cannot
  finish (its dead letters cannot be stored), the task is retried by Celery with back-off:
  every job is idempotent, so running the batch again only does what is left.
* ``dialer.reap``, ``dialer.reconcile``, ``dialer.housekeeping``: beat's periodic tasks, on
  the maintenance queue. One that fails is simply run again at the next period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from dialer.adapters.admission.redis import AdmissionUnavailable
from dialer.adapters.executor.celery_app import (
    HOUSEKEEPING_TASK,
    ORIGINATE_TASK,
    REAP_TASK,
    RECONCILE_TASK,
    make_celery_app,
)
from dialer.bootstrap import Runtime, job_policy, open_runtime
from dialer.observability.celery import instrument_celery
from dialer.services.batches import BatchReport, run_batch
from dialer.services.heartbeat import Heartbeat
from dialer.services.housekeeping import HousekeepingPolicy, HousekeepingReport, housekeeping
from dialer.services.reconciler import ReconcileReport
from dialer.services.retrying import OwnCallsOnly, RetryingAdmission, RetryingTelephony
from dialer.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
TASK_RETRIES = 5  # Celery-level retries of a batch that could not finish
CLOSE_SECONDS = 30.0


def admission_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, AdmissionUnavailable)


@asynccontextmanager
async def open_worker_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The usual runtime, with this layer's retries in place — creates the provider certainly
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


class ProcessRuntime:
    """What one worker process keeps between tasks: its loop thread, runtime and heartbeat."""

    def __init__(self, settings: Settings, node: str) -> None:
        self.settings = settings
        self.policy = job_policy(settings)
        self.heartbeat = Heartbeat("worker", node, settings.heartbeat_seconds)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dialer-loop")
        self._thread.daemon = True  # a process told to die must not wait on it
        self._thread.start()
        self._stack = AsyncExitStack()
        self._runtime: Runtime | None = None
        self._opening = asyncio.Lock()
        self._stop = asyncio.Event()
        self._beats: asyncio.Task[None] | None = None

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open_soon(self) -> None:
        """Open the runtime in the background, so an idle process beats too; a failure is
        logged, and the first task opens it again."""
        future = asyncio.run_coroutine_threadsafe(self.runtime(), self.loop)
        future.add_done_callback(_log_failure)

    async def runtime(self) -> Runtime:
        async with self._opening:
            if self._runtime is None:
                self._runtime = await self._stack.enter_async_context(
                    open_worker_runtime(self.settings)
                )
                self._beats = asyncio.create_task(
                    self.heartbeat.run(self._runtime.store, self._stop)
                )
        return self._runtime

    async def originate(self, jobs: Sequence[Mapping[str, Any]]) -> BatchReport:
        runtime = await self.runtime()
        report = await run_batch(runtime.services, jobs, self.policy)
        self.heartbeat.count(processed=report.processed, failed=report.failed)
        return report

    async def reap(self) -> int:
        return await (await self.runtime()).reaper.run_once()

    async def reconcile(self) -> ReconcileReport:
        return await (await self.runtime()).reconciler.run_once()

    async def housekeeping(self) -> HousekeepingReport:
        settings = self.settings
        policy = HousekeepingPolicy(
            unsent_grace=settings.unsent_grace_seconds,
            quiet=settings.quiet_call_seconds,
            heartbeat_retention=settings.heartbeat_retention_seconds,
        )
        return await housekeeping((await self.runtime()).services, policy)

    def close(self) -> None:
        try:
            self.call(self._close(), CLOSE_SECONDS)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CLOSE_SECONDS)

    async def _close(self) -> None:
        self._stop.set()
        if self._beats is not None:
            await self._beats
        await self._stack.aclose()


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("worker runtime not opened yet: %r", future.exception())


class _PerProcess:
    """The current process's ``ProcessRuntime``, made on first use (after the fork)."""

    def __init__(self, settings: Settings, node: str) -> None:
        self.settings = settings
        self.node = node
        self._made: tuple[int, ProcessRuntime] | None = None

    def get(self) -> ProcessRuntime:
        if self._made is None or self._made[0] != os.getpid():
            self._made = (os.getpid(), ProcessRuntime(self.settings, self.node))
        return self._made[1]

    def close(self) -> None:
        if self._made is not None and self._made[0] == os.getpid():
            self._made[1].close()
            self._made = None


def register_tasks(app: Celery, settings: Settings, node: str) -> None:
    """Define the tasks on ``app``; each worker process opens its runtime as it starts."""
    process = _PerProcess(settings, node)
    instrument_celery()  # our logging stays; task ids on every record

    @app.task(name=ORIGINATE_TASK, bind=True, max_retries=TASK_RETRIES)  # type: ignore[untyped-decorator]
    def originate_batch(task: Any, jobs: list[dict[str, Any]]) -> dict[str, int]:
        runtime = process.get()
        try:
            report = runtime.call(runtime.originate(jobs))
        except Exception as exc:  # the batch could not finish: run it again, idempotently
            log.error("origination batch failed, retrying it: %r", exc)
            raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from exc
        return dict(report.outcomes)

    @app.task(name=REAP_TASK)  # type: ignore[untyped-decorator]
    def reap() -> int:
        runtime = process.get()
        return runtime.call(runtime.reap())

    @app.task(name=RECONCILE_TASK)  # type: ignore[untyped-decorator]
    def reconcile() -> dict[str, Any]:
        runtime = process.get()
        return vars(runtime.call(runtime.reconcile()))

    @app.task(name=HOUSEKEEPING_TASK)  # type: ignore[untyped-decorator]
    def tidy() -> dict[str, int]:
        runtime = process.get()
        return vars(runtime.call(runtime.housekeeping()))

    def started(**_: Any) -> None:
        process.get().open_soon()

    def stopping(**_: Any) -> None:
        process.close()

    worker_process_init.connect(started, weak=False)
    worker_process_shutdown.connect(stopping, weak=False)


def node_name(name: str) -> str:
    return f"{name}@{socket.gethostname()}"


def run_worker(
    settings: Settings, *, name: str, queues: Sequence[str], concurrency: int, loglevel: str
) -> int:
    """Run a Celery worker (prefork pool) until told to stop; its exit code."""
    node = node_name(name)
    app = make_celery_app(settings)
    register_tasks(app, settings, node)
    worker = app.Worker(
        hostname=node,
        queues=list(queues),
        concurrency=concurrency,
        pool="prefork",
        loglevel=loglevel,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
    worker.start()
    return int(worker.exitcode or 0)


def run_beat(settings: Settings, *, loglevel: str) -> None:
    """Run beat: the reaper, the reconciler and housekeeping, each sent to the maintenance
    queue at its period. Exactly one beat may run per deployment."""
    app = make_celery_app(settings)
    instrument_celery()
    app.Beat(scheduler="celery.beat:Scheduler", loglevel=loglevel, quiet=True).run()
