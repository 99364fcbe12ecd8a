"""Delivering the outbox: due deliveries claimed (SKIP LOCKED, leased), signed per Standard
Webhooks, POSTed, and settled — at least once, since a process killed after a POST and
before its settle leaves the delivery to be claimed again when its lease runs out.

A failed try is retried after an exponential back-off with full jitter until the event is
older than the retry horizon; then the delivery is DEAD and a dead letter (kind
``webhook``) says why; replaying it makes one more try. A 410 Gone disables the endpoint.
An endpoint failing ``breaker.failures`` times in a row is paused (its breaker opens): its
deliveries wait, then a single delivery probes it, and a success closes the breaker.

Per lead and endpoint, deliveries go in sequence order: the claim holds a later one back
while an earlier one is pending. Each endpoint gets at most ``per_endpoint`` requests at once
from this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer import metrics
from dialer.domain.webhooks import EVENT_VERSION, BreakerPolicy, RetryPolicy, signature_header
from dialer.errors import Conflict
from dialer.ports import Clock, Store, UnitOfWork
from dialer.ports.records import NewDeadLetter
from dialer.ports.webhook_sender import WebhookAnswer, WebhookSender, WebhookUnreachable
from dialer.ports.webhook_store import DEAD, DELIVERED, PENDING, Delivery, DeliveryAttempt, Endpoint

log = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"  # the dead-letter kind of a delivery given up on
GONE = 410


@dataclass(frozen=True)
class DeliveryPolicy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    lease: float = 60.0  # seconds a claim holds its deliveries (more than the request timeout)
    batch: int = 100
    per_endpoint: int = 4
    idle: float = 0.5  # seconds between claims while there is less than a batch to send


@dataclass(frozen=True)
class _Outcome:
    answer: WebhookAnswer | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.answer is not None and 200 <= self.answer.status_code < 300

    @property
    def gone(self) -> bool:
        return self.answer is not None and self.answer.status_code == GONE

    @property
    def cause(self) -> str:
        return self.error or f"HTTP {self.answer.status_code if self.answer else '?'}"


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
        self.policy = policy or DeliveryPolicy()
        self._rng = rng or random.Random()
        self._wall = wall
        self._in_flight: set[asyncio.Future[list[None]]] = set()
        self._slots: dict[int, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.policy.per_endpoint)
        )

    async def run_once(self) -> int:
        """Claim and send one batch; how many deliveries were tried."""
        claimed, endpoints = await self._claim()
        work = [
            self._deliver(endpoints[d.endpoint_id], d)
            for d in claimed
            if d.endpoint_id in endpoints
        ]
        # Shielded: a loop cancelled as its process stops lets the requests in flight finish
        # and settle (``wait_idle``) rather than leave them to be sent again after the lease.
        sending = asyncio.ensure_future(asyncio.gather(*work))
        self._in_flight.add(sending)
        sending.add_done_callback(self._in_flight.discard)
        await asyncio.shield(sending)
        return len(work)

    async def wait_idle(self) -> None:
        """Wait for the deliveries in flight (of a cancelled pass too) to be settled."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def tick(self) -> float:
        """One pass of the delivery loop; the pause before the next (none after a full
        batch: more may be waiting)."""
        tried = await self.run_once()
        return 0.0 if tried >= self.policy.batch else self.policy.idle

    async def _claim(self) -> tuple[list[Delivery], dict[int, Endpoint]]:
        now = self._clock.now()
        leased_until = now + timedelta(seconds=self.policy.lease)
        async with self._store.unit() as uow:
            claimed = await uow.webhooks.claim_due(now, leased_until, self.policy.batch)
            endpoints = await uow.webhooks.endpoints_by_id(sorted({d.endpoint_id for d in claimed}))
            held = await self._hold_behind_probes(uow, claimed, endpoints, now)
            await uow.commit()
        return [d for d in claimed if d.id not in held], endpoints

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
                await uow.webhooks.settle(
                    delivery.id, PENDING, now, delivery.tries, delivery.last_error
                )
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
        await self._settle(endpoint, delivery, outcome)

    async def _send(self, endpoint: Endpoint, delivery: Delivery) -> _Outcome:
        body = body_of(delivery)
        timestamp = int(self._wall())
        headers = signed_headers(endpoint, delivery, self._clock.now(), timestamp, body)
        try:
            answer = await self._sender.post(endpoint.url, headers, body)
        except WebhookUnreachable as exc:
            return _Outcome(None, str(exc))
        metrics.outbound_webhook_seconds.observe(answer.latency_ms / 1000)
        return _Outcome(answer, None)

    async def _settle(self, endpoint: Endpoint, delivery: Delivery, outcome: _Outcome) -> None:
        now = self._clock.now()
        answer = outcome.answer
        async with self._store.unit() as uow:
            await uow.webhooks.add_attempt(
                DeliveryAttempt(
                    delivery.id,
                    endpoint.id,
                    now,
                    None if answer is None else answer.status_code,
                    0.0 if answer is None else answer.latency_ms,
                    None if outcome.ok else outcome.cause,
                )
            )
            await self._settle_delivery(uow, delivery, outcome, now)
            if not outcome.ok or endpoint.failures:
                await self._update_endpoint(uow, endpoint.id, outcome, now)
            await uow.commit()

    async def _settle_delivery(
        self, uow: UnitOfWork, delivery: Delivery, outcome: _Outcome, now: datetime
    ) -> None:
        tries = delivery.tries + 1
        if outcome.ok:
            await uow.webhooks.settle(delivery.id, DELIVERED, now, tries, None)
            metrics.outbound_webhooks.labels("delivered").inc()
            return
        if outcome.gone:  # kept pending: delivered if the tenant enables the endpoint again
            await uow.webhooks.settle(delivery.id, PENDING, now, tries, outcome.cause)
            metrics.outbound_webhooks.labels("gone").inc()
            return
        retry_at = now + timedelta(seconds=self.policy.retry.delay(tries, self._rng))
        if (retry_at - delivery.event_at).total_seconds() <= self.policy.retry.horizon:
            await uow.webhooks.settle(delivery.id, PENDING, retry_at, tries, outcome.cause)
            metrics.outbound_webhooks.labels("retry").inc()
            return
        await uow.webhooks.settle(delivery.id, DEAD, now, tries, outcome.cause)
        metrics.outbound_webhooks.labels("dead").inc()
        await uow.cluster.add_dead_letter(_dead_letter(delivery, tries, outcome.cause), now)
        log.warning(
            "webhook delivery %s given up after %d tries: %s", delivery.id, tries, outcome.cause
        )

    async def _update_endpoint(
        self, uow: UnitOfWork, endpoint_id: int, outcome: _Outcome, now: datetime
    ) -> None:
        endpoint = await uow.webhooks.endpoint(endpoint_id, lock=True)
        if endpoint is None:
            return
        if outcome.ok:
            endpoint.failures, endpoint.paused_until = 0, None
        elif outcome.gone:
            endpoint.enabled = False
            endpoint.disabled_reason = "the endpoint answered 410 Gone"
        else:
            endpoint.failures += 1
            if self.policy.breaker.opens(endpoint.failures):
                endpoint.paused_until = now + timedelta(seconds=self.policy.breaker.pause)
        await uow.webhooks.save_endpoint(endpoint, now)

    async def aclose(self) -> None:
        await self._sender.aclose()


def _dead_letter(delivery: Delivery, tries: int, cause: str) -> NewDeadLetter:
    payload = {
        "delivery_id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "type": delivery.type,
    }
    return NewDeadLetter(
        delivery.tenant_id, WEBHOOK_JOB, f"delivery:{delivery.id}", cause, payload, tries
    )


async def replay(store: Store, delivery_id: int, now: datetime) -> str:
    """One more try of a dead delivery (a dead letter replayed); what was done. Conflict
    when there is no such delivery (nothing a replay could do)."""
    async with store.unit() as uow:
        delivery = await uow.webhooks.delivery(delivery_id)
        if delivery is None:
            raise Conflict(f"webhook delivery {delivery_id} does not exist; discard the letter")
        if delivery.status != DEAD:
            return f"nothing to do: the delivery is {delivery.status}"
        await uow.webhooks.settle(delivery.id, PENDING, now, delivery.tries, delivery.last_error)
        await uow.commit()
    return "due again: one more try"
