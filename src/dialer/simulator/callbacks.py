"""Delivering status callbacks: signed as the dialect's provider signs them, in order per call,
over one keep-alive pool (see webhooks.py), with the callback faults (lost, duplicated,
reordered) injected here.

A failed delivery (no answer, or not 2xx) is retried once after ``callback_retry_delay``;
a second failure is counted in ``callbacks_failed`` and the callback is dropped.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from dialer.simulator.calls import Outbox
from dialer.simulator.clock import SimClock
from dialer.simulator.config import SimulatorConfig
from dialer.simulator.delivery import Delivery
from dialer.simulator.dialects import Dialect
from dialer.simulator.observer import Observer
from dialer.simulator.tasks import TaskSet
from dialer.simulator.webhooks import WebhookClient, WebhookError

CALLBACK_TIMEOUT = 10.0  # real seconds


class CallbackSender:
    def __init__(
        self,
        settings: Callable[[], SimulatorConfig],
        observer: Observer,
        rng: random.Random,
        clock: SimClock,
        tasks: TaskSet,
        dialect: Dialect,
    ) -> None:
        self._dialect = dialect
        self._settings = settings
        self._observer = observer
        self._rng = rng
        self._clock = clock
        self._tasks = tasks
        self._client: WebhookClient | None = None

    def start(self) -> None:
        self._client = WebhookClient(
            max_connections=self._settings().callback_connections,
            timeout=CALLBACK_TIMEOUT,
            user_agent=getattr(self._dialect, "user_agent", "simulator"),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def send(self, outbox: Outbox, delivery: Delivery, *, terminal: bool) -> None:
        """Queue one callback behind the call's earlier ones, faults permitting."""
        config = self._settings()
        if self._roll(config.lost_callback_rate):
            self._observer.count("callbacks_lost")
            return
        if not terminal and outbox.held is None and self._roll(config.reorder_rate):
            outbox.held = delivery  # delivered after the next one
            self._observer.count("callbacks_reordered")
            return
        self._enqueue(outbox, delivery, config)
        if outbox.held is not None:
            held, outbox.held = outbox.held, None
            self._enqueue(outbox, held, config)

    def _enqueue(self, outbox: Outbox, callback: Delivery, config: SimulatorConfig) -> None:
        copies = 1
        if self._roll(config.duplicate_callback_rate):
            copies = 2
            self._observer.count("callbacks_duplicated")
        outbox.last = self._tasks.spawn(self._deliver_after(outbox.last, callback, copies))

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    async def _deliver_after(
        self, previous: asyncio.Task[None] | None, callback: Delivery, copies: int
    ) -> None:
        if previous is not None:
            await previous
        for _ in range(copies):
            await self._deliver(callback)

    async def _deliver(self, delivery: Delivery) -> None:
        if await self._post(delivery):
            return
        self._observer.count("callbacks_retried")
        await self._clock.sleep(self._settings().callback_retry_delay)
        if not await self._post(delivery):
            self._observer.count("callbacks_failed")

    async def _post(self, delivery: Delivery) -> bool:
        if self._client is None:
            raise RuntimeError("CallbackSender.start() was not called")
        sequence = (delivery.form or {}).get("SequenceNumber", "")
        headers = self._dialect.headers(delivery, sequence)  # signed at each delivery
        try:
            status = await self._client.post(
                delivery.url, delivery.body, delivery.content_type, headers
            )
        except WebhookError:
            return False
        if 200 <= status < 300:
            self._observer.count("callbacks_sent")
            return True
        # Counted by class: a 4xx tells a real provider to give the event up for good.
        self._observer.count("callbacks_answered_4xx" if status < 500 else "callbacks_answered_5xx")
        return False
