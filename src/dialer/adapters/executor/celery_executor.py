"""The ``Executor`` port on Celery: the dispatcher's batches become tasks for the workers.

A batch is split by campaign into tasks of ``DIALER_TASK_BATCH_SIZE`` jobs, each sent to the
campaign's queue (DIALER_QUEUE_ROUTES, else the default queue) at the campaign's priority.
Celery carries batches, not single calls, so its per-task cost stays off the per-call budget.

Publishing is blocking (kombu), so it runs on one thread beside the event loop. ``submit``
returns once the broker has every task (RabbitMQ confirms each publish). When the broker
refuses one, the jobs not handed over are withdrawn — void, lease released, lead due again,
attempts unspent — and ``BrokerUnavailable`` is raised so that the dispatcher backs off
instead of recording attempts nobody will send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from celery import Celery

from dialer.adapters.executor.celery_app import ORIGINATE_TASK, message_priority, queue_for
from dialer.errors import Unavailable
from dialer.ports import Origination, Store
from dialer.ports.jobs import job_payload
from dialer.settings import Settings

log = logging.getLogger(__name__)

ROUTE_REFRESH_SECONDS = 2.0  # how often a campaign's queue and priority are read again
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1}

Withdraw = Callable[[Sequence[Origination], str], Awaitable[int]]


class BrokerUnavailable(Unavailable):
    """The broker did not take a task: its jobs were withdrawn, nothing was sent."""


@dataclass(frozen=True)
class _Task:
    queue: str
    priority: int
    jobs: Sequence[Origination]


class CeleryExecutor:
    def __init__(self, app: Celery, settings: Settings, store: Store, withdraw: Withdraw) -> None:
        self._app = app
        self._settings = settings
        self._store = store
        self._withdraw = withdraw
        self._routes: dict[int, tuple[float, str, int]] = {}  # campaign: read at, queue, priority
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="dialer-publish")
        self.published = 0  # tasks handed to the broker

    async def submit(self, batch: Sequence[Origination]) -> None:
        tasks = await self._tasks(batch)
        loop = asyncio.get_running_loop()
        for index, task in enumerate(tasks):
            try:
                await loop.run_in_executor(self._thread, self._publish, task)
            except Exception as exc:  # kombu's errors differ by transport; all mean "not taken"
                unsent = [job for rest in tasks[index:] for job in rest.jobs]
                withdrawn = await self._withdraw(unsent, f"not sent: broker unavailable ({exc!r})")
                log.error("broker refused a task: %d jobs withdrawn (%r)", withdrawn, exc)
                raise BrokerUnavailable(f"the broker did not take a task: {exc!r}") from exc
            self.published += 1

    async def drain(self) -> None:
        """Nothing to wait for: ``submit`` returns once the broker holds every task; the
        workers send them."""

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._app.close()

    def _publish(self, task: _Task) -> None:
        self._app.send_task(
            ORIGINATE_TASK,
            args=[[job_payload(job) for job in task.jobs]],
            queue=task.queue,
            priority=task.priority,
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )

    async def _tasks(self, batch: Sequence[Origination]) -> list[_Task]:
        by_campaign: dict[int, list[Origination]] = {}
        for job in batch:
            by_campaign.setdefault(job.campaign_id, []).append(job)
        size = self._settings.task_batch_size
        tasks = []
        for campaign_id, jobs in by_campaign.items():
            queue, priority = await self._route(campaign_id)
            tasks += [_Task(queue, priority, jobs[i : i + size]) for i in range(0, len(jobs), size)]
        return tasks

    async def _route(self, campaign_id: int) -> tuple[str, int]:
        cached = self._routes.get(campaign_id)
        if cached is None or time.monotonic() - cached[0] > ROUTE_REFRESH_SECONDS:
            async with self._store.unit() as uow:
                route = await uow.campaigns.route(campaign_id)
            priority = message_priority(route.priority, self._settings.broker_url or "")
            cached = (time.monotonic(), queue_for(route, self._settings), priority)
            self._routes[campaign_id] = cached
        return cached[1], cached[2]
