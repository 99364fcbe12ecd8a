"""Settling webhook deliveries once their endpoint answered (or did not): each try recorded,
each delivery delivered, due again after its back-off, or dead (a dead letter), and each
endpoint's breaker and 410 state kept — the tries that end together settled in one
transaction (group commit: ``Coalescer``), so a fast endpoint's deliveries are not one round
trip of the database each."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer import metrics
from dialer.domain.webhooks import BreakerPolicy, RetryPolicy
from dialer.errors import Conflict
from dialer.ports import Store, UnitOfWork
from dialer.ports.records import NewDeadLetter
from dialer.ports.webhook_sender import WebhookAnswer
from dialer.ports.webhook_store import DEAD, PENDING, Delivery, DeliveryAttempt, Endpoint
from dialer.services.coalescing import Coalescer

log = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"  # the dead-letter kind of a delivery given up on
GONE = 410
MAX_SETTLES_PER_BATCH = 500
MAX_RETRY_AFTER = 24 * 3600.0  # seconds: a Retry-After beyond this is read as this


@dataclass(frozen=True)
class Outcome:
    """What one try came to: the endpoint's answer, or why there was none."""

    answer: WebhookAnswer | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.answer is not None and 200 <= self.answer.status_code < 300

    @property
    def gone(self) -> bool:
        return self.answer is not None and self.answer.status_code == GONE

    @property
    def wait(self) -> float:
        """What the endpoint's Retry-After asked for (a 429 or 503), at most a day."""
        asked = self.answer.retry_after if self.answer is not None else None
        return min(asked or 0.0, MAX_RETRY_AFTER)

    @property
    def cause(self) -> str:
        return self.error or f"HTTP {self.answer.status_code if self.answer else '?'}"


@dataclass(frozen=True)
class Tried:
    endpoint: Endpoint
    delivery: Delivery
    outcome: Outcome
    at: datetime


@dataclass
class Settler:
    store: Store
    retry: RetryPolicy
    breaker: BreakerPolicy
    rng: random.Random
    _writes: Coalescer[Tried, None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._writes = Coalescer(self._settle_many, MAX_SETTLES_PER_BATCH)

    async def settle(self, tried: Tried) -> None:
        """Committed when this returns (with the others of its batch)."""
        await self._writes.submit(tried)

    async def _settle_many(self, batch: list[Tried]) -> Sequence[None]:
        delivered = [t.delivery.id for t in batch if t.outcome.ok]
        async with self.store.unit() as uow:
            await uow.webhooks.add_attempts([_attempt(t) for t in batch])
            await uow.webhooks.delivered(delivered, batch[-1].at)
            for tried in batch:
                if not tried.outcome.ok:
                    await self._settle_failure(uow, tried)
            await self._update_endpoints(uow, batch)
            await uow.commit()
        metrics.outbound_webhooks.labels("delivered").inc(len(delivered))
        return [None] * len(batch)

    async def _settle_failure(self, uow: UnitOfWork, tried: Tried) -> None:
        delivery, outcome, now = tried.delivery, tried.outcome, tried.at
        tries = delivery.tries + 1
        if outcome.gone:  # kept pending: delivered if the tenant enables the endpoint again
            await uow.webhooks.settle(delivery.id, PENDING, now, tries, outcome.cause)
            metrics.outbound_webhooks.labels("gone").inc()
            return
        retry_at = now + timedelta(seconds=max(self.retry.delay(tries, self.rng), outcome.wait))
        if (retry_at - delivery.event_at).total_seconds() <= self.retry.horizon:
            await uow.webhooks.settle(delivery.id, PENDING, retry_at, tries, outcome.cause)
            metrics.outbound_webhooks.labels("retry").inc()
            return
        await uow.webhooks.settle(delivery.id, DEAD, now, tries, outcome.cause)
        metrics.outbound_webhooks.labels("dead").inc()
        await uow.cluster.add_dead_letter(dead_letter(delivery, tries, outcome.cause), now)
        log.warning(
            "webhook delivery %s given up after %d tries: %s", delivery.id, tries, outcome.cause
        )

    async def _update_endpoints(self, uow: UnitOfWork, batch: list[Tried]) -> None:
        """Each endpoint's failures in a row, breaker and 410 state, after the batch's tries
        in the order they ended; locked in id order (no two batches wait on each other)."""
        changing = sorted({t.endpoint.id for t in batch if not t.outcome.ok or t.endpoint.failures})
        for endpoint_id in changing:
            endpoint = await uow.webhooks.endpoint(endpoint_id, lock=True)
            if endpoint is None:
                continue
            for tried in batch:
                if tried.endpoint.id == endpoint_id:
                    self._apply(endpoint, tried)
            await uow.webhooks.save_endpoint(endpoint, batch[-1].at)

    def _apply(self, endpoint: Endpoint, tried: Tried) -> None:
        outcome = tried.outcome
        if outcome.ok:
            endpoint.failures, endpoint.paused_until = 0, None
        elif outcome.gone:
            endpoint.enabled = False
            endpoint.disabled_reason = "the endpoint answered 410 Gone"
        else:
            endpoint.failures += 1
            pause = self.breaker.pause if self.breaker.opens(endpoint.failures) else 0.0
            # An endpoint asking us to wait (429 or 503 with Retry-After) is asked nothing
            # until then: none of its deliveries, not only the one it answered.
            pause = max(pause, outcome.wait)
            if pause:
                until = tried.at + timedelta(seconds=pause)
                endpoint.paused_until = max(until, endpoint.paused_until or until)


def _attempt(tried: Tried) -> DeliveryAttempt:
    answer, outcome = tried.outcome.answer, tried.outcome
    return DeliveryAttempt(
        tried.delivery.id,
        tried.endpoint.id,
        tried.at,
        None if answer is None else answer.status_code,
        0.0 if answer is None else answer.latency_ms,
        None if outcome.ok else outcome.cause,
    )


def dead_letter(delivery: Delivery, tries: int, cause: str) -> NewDeadLetter:
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
