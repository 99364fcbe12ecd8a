"""Delivering the outbox: due deliveries claimed (SKIP LOCKED, leased), signed per Standard
Webhooks, POSTed, and settled (``webhook_settling``) — at least once, since a process killed
after a POST and before its settle leaves the delivery to be claimed again when its lease runs
out.

A failed try is retried after an exponential back-off with full jitter until the event is
older than the retry horizon; then the delivery is DEAD and a dead letter (kind
``webhook``) says why; replaying it makes one more try. A 410 Gone disables the endpoint.
An endpoint failing ``breaker.failures`` times in a row is paused (its breaker opens): its
deliveries wait, then a single delivery probes it, and a success closes the breaker.

Per lead and endpoint, deliveries go in sequence order: the claim holds a later one back
while an earlier one is pending. Each endpoint gets at most ``per_endpoint`` requests at once
from this process; an endpoint holding ``2 × per_endpoint`` of this process's claims is
skipped by its next claims, and a claim takes no more than that: a slow endpoint's deliveries
wait in the database, not in this process's hands, and never hold up another endpoint's. The
loop does not wait for its requests: each tick claims what there is room for (``batch`` in
flight at most) and goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from dialer import metrics
from dialer.domain.webhooks import EVENT_VERSION, BreakerPolicy, RetryPolicy, signature_header
from dialer.ports import Clock, Store, UnitOfWork
from dialer.ports.webhook_sender import WebhookSender, WebhookUnreachable
from dialer.ports.webhook_store import PENDING, Delivery, Endpoint
from dialer.services.webhook_settling import WEBHOOK_JOB, Outcome, Settler, Tried, replay

__all__ = ["WEBHOOK_JOB", "DeliveryPolicy", "WebhookDeliverer", "replay"]

log = logging.getLogger(__name__)

# Claims an endpoint may hold in this process, per request it may make at once. Two: the last
# of them waits at most one request timeout for its turn, well inside its lease (three).
HELD_PER_SLOT = 2


@dataclass(frozen=True)
class DeliveryPolicy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    lease: float = 60.0  # seconds a claim holds its deliveries (more than the request timeout)
    batch: int = 100
    per_endpoint: int = 4
    idle: float = 0.5  # seconds before the next claim when the last one found nothing to send


def body_of(delivery: Delivery) -> bytes:
    """The request body: the same bytes on every try of the event."""
    payload = {
        "id": delivery.message_id,
        "type": delivery.type,
        "version": EVENT_VERSION,
        "timestamp": delivery.event_at.isoformat(),
        "sequence": delivery.sequence,
        "data": delivery.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(
    endpoint: Endpoint, delivery: Delivery, now: datetime, timestamp: int, body: bytes
) -> dict[str, str]:
    """``timestamp`` is wall-clock time: receivers check it against their own clocks to
    refuse replays; ``now`` (the engine's clock) picks the secrets that sign."""
    return {
        "content-type": "application/json",
        "user-agent": "Dialer-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            endpoint.secrets(now), delivery.message_id, timestamp, body
        ),
    }


class WebhookDeliverer:
    def __init__(
        self,
        store: Store,
        sender: WebhookSender,
        clock: Clock,
        policy: DeliveryPolicy | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self.policy = policy = policy or DeliveryPolicy()
        self._settler = Settler(store, policy.retry, policy.breaker, rng or random.Random())
        self._wall = wall
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: Counter[int] = Counter()  # claims in this process's hands, per endpoint
        self._slots: dict[int, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.policy.per_endpoint)
        )

    async def run_once(self) -> int:
        """Claim a batch, send it and wait until everything in flight is settled; how many
        deliveries this claim started."""
        started = await self.start_once()
        await self.wait_idle()
        return started

    async def tick(self) -> float:
        """One pass of the delivery loop: start what there is room for, without waiting for
        the answers; the pause before the next pass: none after a claim that found work, or
        as soon as a request in flight ends (its endpoint may take another), else ``idle``."""
        if await self.start_once():
            return 0.0
        if self._tasks:
            await asyncio.wait(
                list(self._tasks), timeout=self.policy.idle, return_when=asyncio.FIRST_COMPLETED
            )
            return 0.0
        return self.policy.idle

    async def start_once(self) -> int:
        """Claim due deliveries (as many as there is room for) and start sending them."""
        # A claim takes no more than one endpoint may hold: it never has to give any back.
        room = min(self.policy.batch - len(self._tasks), self._most_held)
        if room <= 0:
            return 0
        claimed, endpoints = await self._claim(room)
        for delivery in claimed:
            self._start(endpoints[delivery.endpoint_id], delivery)
        return len(claimed)

    async def wait_idle(self) -> None:
        """Wait until the deliveries in flight are settled (the process is stopping)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _start(self, endpoint: Endpoint, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(endpoint, delivery))
        self._held[endpoint.id] += 1
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, endpoint.id))

    def _finished(self, endpoint_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._held[endpoint_id] -= 1
        if self._held[endpoint_id] <= 0:
            del self._held[endpoint_id]
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "a webhook delivery was not settled (%r); it is sent again when its lease runs out",
                task.exception(),
            )

    async def _claim(self, room: int) -> tuple[list[Delivery], dict[int, Endpoint]]:
        now = self._clock.now()
        leased_until = now + timedelta(seconds=self.policy.lease)
        full = [e for e, n in self._held.items() if n >= self._most_held]
        async with self._store.unit() as uow:
            claimed = await uow.webhooks.claim_due(now, leased_until, room, skip_endpoints=full)
            endpoints = await uow.webhooks.endpoints_by_id(sorted({d.endpoint_id for d in claimed}))
            held = await self._hold_behind_probes(uow, claimed, endpoints, now)
            await uow.commit()
        kept = [d for d in claimed if d.id not in held and d.endpoint_id in endpoints]
        return kept, endpoints

    @property
    def _most_held(self) -> int:
        return self.policy.per_endpoint * HELD_PER_SLOT

    async def _hold_behind_probes(
        self,
        uow: UnitOfWork,
        claimed: Sequence[Delivery],
        endpoints: dict[int, Endpoint],
        now: datetime,
    ) -> set[int]:
        """An endpoint whose breaker has opened gets one delivery, its probe: the others go
        back in the queue, and the endpoint stays paused while the probe is out (no other
        claim sends a second one); the probe's answer closes or re-opens the breaker."""
        probes: set[int] = set()
        held = set()
        for delivery in claimed:
            endpoint = endpoints.get(delivery.endpoint_id)
            if endpoint is None or not self.policy.breaker.opens(endpoint.failures):
                continue
            if delivery.endpoint_id in probes:
                held.add(delivery.id)
                await _put_back(uow, delivery, now)
            probes.add(delivery.endpoint_id)
        for endpoint_id in probes:
            await self._pause(uow, endpoint_id, now)
        return held

    async def _pause(self, uow: UnitOfWork, endpoint_id: int, now: datetime) -> None:
        endpoint = await uow.webhooks.endpoint(endpoint_id, lock=True)
        if endpoint is not None:
            endpoint.paused_until = now + timedelta(seconds=self.policy.breaker.pause)
            await uow.webhooks.save_endpoint(endpoint, now)

    async def _deliver(self, endpoint: Endpoint, delivery: Delivery) -> None:
        async with self._slots[endpoint.id]:
            outcome = await self._send(endpoint, delivery)
        await self._settler.settle(Tried(endpoint, delivery, outcome, self._clock.now()))

    async def _send(self, endpoint: Endpoint, delivery: Delivery) -> Outcome:
        body = body_of(delivery)
        timestamp = int(self._wall())
        headers = signed_headers(endpoint, delivery, self._clock.now(), timestamp, body)
        try:
            answer = await self._sender.post(endpoint.url, headers, body)
        except WebhookUnreachable as exc:
            return Outcome(None, str(exc))
        metrics.outbound_webhook_seconds.observe(answer.latency_ms / 1000)
        return Outcome(answer, None)

    async def aclose(self) -> None:
        """Let the requests in flight finish and settle (bounded by their timeout), then
        close the HTTP client."""
        await self.wait_idle()
        await self._sender.aclose()


async def _put_back(uow: UnitOfWork, delivery: Delivery, now: datetime) -> None:
    """Give a claimed delivery back unsent, due at once, its tries unchanged."""
    await uow.webhooks.settle(delivery.id, PENDING, now, delivery.tries, delivery.last_error)
