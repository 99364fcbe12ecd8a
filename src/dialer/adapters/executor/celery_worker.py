"""The worker side of a distributed deployment: the Celery tasks, and what each worker
process keeps between tasks.

Each worker process (Celery's prefork pool: one task at a time per process) runs an event
loop on a thread of its own, where the process's ``WorkerTasks`` — built by the composition
root (``dialer.bootstrap.worker.WorkerRuntime``): the runtime, opened once and reused by every task,
and the process's heartbeat, which runs even while it is idle — live. A task hands its
coroutine to that loop and waits for it.

Tasks:

* ``dialer.originate_batch(jobs)``: the jobs run as one batch. If the batch cannot
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
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from dialer.adapters.executor.celery_app import (
    HOUSEKEEPING_TASK,
    ORIGINATE_TASK,
    REAP_TASK,
    RECONCILE_TASK,
    make_celery_app,
)
from dialer.observability.celery import instrument_celery
from dialer.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
TASK_RETRIES = 5  # Celery-level retries of a batch that could not finish
CLOSE_SECONDS = 30.0


class WorkerTasks(Protocol):
    """What one worker process's tasks run: each result is plain data for Celery."""

    async def open(self) -> object: ...

    async def originate(self, jobs: Sequence[Mapping[str, Any]]) -> Mapping[str, int]: ...

    async def reap(self) -> int: ...

    async def reconcile(self) -> Mapping[str, Any]: ...

    async def housekeeping(self) -> Mapping[str, int]: ...

    async def close(self) -> None: ...


MakeTasks = Callable[[], WorkerTasks]


class ProcessLoop:
    """One worker process's event loop, on a thread of its own, where its tasks run."""

    def __init__(self, tasks: WorkerTasks) -> None:
        self.tasks = tasks
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dialer-loop")
        self._thread.daemon = True  # a process told to die must not wait on it
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open_soon(self) -> None:
        """Open the tasks' runtime in the background, so an idle process beats too; a failure
        is logged, and the first task opens it again."""
        future = asyncio.run_coroutine_threadsafe(self.tasks.open(), self.loop)
        future.add_done_callback(_log_failure)

    def close(self) -> None:
        try:
            self.call(self.tasks.close(), CLOSE_SECONDS)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CLOSE_SECONDS)


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("worker runtime not opened yet: %r", future.exception())


class _PerProcess:
    """The current process's ``ProcessLoop``, made on first use (after the fork)."""

    def __init__(self, make_tasks: MakeTasks) -> None:
        self.make_tasks = make_tasks
        self._made: tuple[int, ProcessLoop] | None = None

    def get(self) -> ProcessLoop:
        if self._made is None or self._made[0] != os.getpid():
            self._made = (os.getpid(), ProcessLoop(self.make_tasks()))
        return self._made[1]

    def close(self) -> None:
        if self._made is not None and self._made[0] == os.getpid():
            self._made[1].close()
            self._made = None


def register_tasks(app: Celery, make_tasks: MakeTasks) -> None:
    """Define the tasks on ``app``; each worker process makes its tasks' runtime and opens it
    as it starts."""
    process = _PerProcess(make_tasks)
    instrument_celery()  # our logging stays; task ids on every record

    @app.task(name=ORIGINATE_TASK, bind=True, max_retries=TASK_RETRIES)  # type: ignore[untyped-decorator]
    def originate_batch(task: Any, jobs: list[dict[str, Any]]) -> dict[str, int]:
        running = process.get()
        try:
            outcomes = running.call(running.tasks.originate(jobs))
        except Exception as exc:  # the batch could not finish: run it again, idempotently
            log.error("origination batch failed, retrying it: %r", exc)
            raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from exc
        return dict(outcomes)

    @app.task(name=REAP_TASK)  # type: ignore[untyped-decorator]
    def reap() -> int:
        running = process.get()
        return running.call(running.tasks.reap())

    @app.task(name=RECONCILE_TASK)  # type: ignore[untyped-decorator]
    def reconcile() -> dict[str, Any]:
        running = process.get()
        return dict(running.call(running.tasks.reconcile()))

    @app.task(name=HOUSEKEEPING_TASK)  # type: ignore[untyped-decorator]
    def tidy() -> dict[str, int]:
        running = process.get()
        return dict(running.call(running.tasks.housekeeping()))

    def started(**_: Any) -> None:
        process.get().open_soon()

    def stopping(**_: Any) -> None:
        process.close()

    worker_process_init.connect(started, weak=False)
    worker_process_shutdown.connect(stopping, weak=False)


def node_name(name: str) -> str:
    return f"{name}@{socket.gethostname()}"


def run_worker(
    settings: Settings,
    make_tasks: MakeTasks,
    *,
    node: str,
    queues: Sequence[str],
    concurrency: int,
    loglevel: str,
) -> int:
    """Run a Celery worker (prefork pool) until told to stop; its exit code. Each of its
    processes runs the tasks ``make_tasks`` makes."""
    app = make_celery_app(settings)
    register_tasks(app, make_tasks)
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
