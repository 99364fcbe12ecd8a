"""Outbound webhooks in memory: the same answers as the SQL repository (the store contract
suite runs both)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialer.adapters.store.memory.tables import Journal, Table
from dialer.ports.webhook_store import (
    DELIVERED,
    PENDING,
    Delivery,
    DeliveryAttempt,
    Endpoint,
    NewEvent,
)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    tenant_id: int
    type: str
    lead_id: int | None
    sequence: int | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    event_id: int
    endpoint_id: int
    lead_id: int | None
    sequence: int | None
    status: str
    due_at: datetime
    tries: int
    last_error: str | None = None


class WebhookTables:
    """The webhook tables of the in-memory database, journaled with the others."""

    def __init__(self, journal: Journal) -> None:
        self.endpoints = Table[int, Endpoint](journal, groups={"tenant": lambda r: r.tenant_id})
        self.events = Table[int, EventRow](journal)
        self.deliveries = Table[int, DeliveryRow](
            journal,
            groups={
                "pending": lambda r: True if r.status == PENDING else None,
                "lead": lambda r: (r.endpoint_id, r.lead_id) if r.status == PENDING else None,
            },
        )
        self.attempts = Table[int, DeliveryAttempt](
            journal, groups={"endpoint": lambda r: r.endpoint_id}
        )
        self.sequences = Table[int, int](journal)


def _copy(endpoint: Endpoint) -> Endpoint:
    return dataclasses.replace(endpoint, events=list(endpoint.events))


class MemoryWebhooks:
    def __init__(self, tables: WebhookTables) -> None:
        self._t = tables

    async def add_endpoint(
        self,
        tenant_id: int,
        url: str,
        events: Sequence[str],
        description: str,
        secret: str,
        now: datetime,
    ) -> Endpoint:
        endpoint_id = self._t.endpoints.next_id()
        endpoint = Endpoint(
            endpoint_id, tenant_id, url, list(events), description, True, secret, now, now
        )
        self._t.endpoints.put(endpoint_id, _copy(endpoint))
        return endpoint

    async def endpoint(self, endpoint_id: int, *, lock: bool = False) -> Endpoint | None:
        found = self._t.endpoints.get(endpoint_id)
        return None if found is None else _copy(found)

    async def endpoints(self, tenant_id: int) -> list[Endpoint]:
        found = self._t.endpoints.group("tenant", tenant_id)
        return [_copy(e) for e in sorted(found, key=lambda e: e.id)]

    async def endpoints_by_id(self, endpoint_ids: Sequence[int]) -> dict[int, Endpoint]:
        found = (self._t.endpoints.get(i) for i in endpoint_ids)
        return {e.id: _copy(e) for e in found if e is not None}

    async def save_endpoint(self, endpoint: Endpoint, now: datetime) -> None:
        endpoint.updated_at = now
        self._t.endpoints.put(endpoint.id, _copy(endpoint))

    async def subscriptions(self) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for endpoint in self._t.endpoints.rows():
            if endpoint.enabled:
                found.setdefault(endpoint.tenant_id, set()).update(endpoint.events)
        return found

    async def record(self, events: Sequence[NewEvent], now: datetime) -> int:
        written = 0
        for event in events:
            targets = self._targets(event)
            if targets:
                written += self._write(event, targets, now)
        return written

    def _targets(self, event: NewEvent) -> list[int]:
        enabled = [e for e in self._t.endpoints.group("tenant", event.tenant_id) if e.enabled]
        if event.endpoint_id is not None:
            return [e.id for e in enabled if e.id == event.endpoint_id]
        return sorted(e.id for e in enabled if event.type in e.events)

    def _write(self, event: NewEvent, endpoint_ids: list[int], now: datetime) -> int:
        sequence = None
        if event.lead_id is not None:
            sequence = (self._t.sequences.get(event.lead_id) or 0) + 1
            self._t.sequences.put(event.lead_id, sequence)
        event_id = self._t.events.next_id()
        row = EventRow(
            event_id, event.tenant_id, event.type, event.lead_id, sequence, dict(event.data), now
        )
        self._t.events.put(event_id, row)
        for endpoint_id in endpoint_ids:
            delivery_id = self._t.deliveries.next_id()
            self._t.deliveries.put(
                delivery_id,
                DeliveryRow(
                    delivery_id, event_id, endpoint_id, event.lead_id, sequence, PENDING, now, 0
                ),
            )
        return len(endpoint_ids)

    async def claim_due(
        self,
        now: datetime,
        leased_until: datetime,
        limit: int,
        skip_endpoints: Collection[int] = (),
    ) -> list[Delivery]:
        skip = set(skip_endpoints)
        due = [
            d
            for d in self._t.deliveries.group("pending", True)
            if d.due_at <= now
            and d.endpoint_id not in skip
            and self._open(d.endpoint_id, now)
            and not self._blocked(d)
        ]
        due.sort(key=lambda d: (d.due_at, d.id))
        claimed = due[: max(limit, 0)]
        for row in claimed:
            self._t.deliveries.put(row.id, dataclasses.replace(row, due_at=leased_until))
        found = [self._delivery(row.id) for row in claimed]
        return sorted(found, key=lambda d: (d.endpoint_id, d.lead_id or 0, d.sequence or 0, d.id))

    def _open(self, endpoint_id: int, now: datetime) -> bool:
        endpoint = self._t.endpoints.get(endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return False
        return endpoint.paused_until is None or endpoint.paused_until <= now

    def _blocked(self, row: DeliveryRow) -> bool:
        if row.lead_id is None or row.sequence is None:
            return False
        same_lead = self._t.deliveries.group("lead", (row.endpoint_id, row.lead_id))
        return any(d.sequence is not None and d.sequence < row.sequence for d in same_lead)

    def _delivery(self, delivery_id: int) -> Delivery:
        row = self._t.deliveries.get(delivery_id)
        assert row is not None
        event = self._t.events.get(row.event_id)
        assert event is not None
        return Delivery(
            id=row.id,
            event_id=row.event_id,
            endpoint_id=row.endpoint_id,
            tenant_id=event.tenant_id,
            type=event.type,
            data=dict(event.data),
            event_at=event.created_at,
            lead_id=row.lead_id,
            sequence=row.sequence,
            tries=row.tries,
            status=row.status,
            due_at=row.due_at,
            last_error=row.last_error,
        )

    async def settle(
        self, delivery_id: int, status: str, due_at: datetime, tries: int, error: str | None
    ) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is None:
            return
        error = None if error is None else error[:500]
        changed = dataclasses.replace(
            row, status=status, due_at=due_at, tries=tries, last_error=error
        )
        self._t.deliveries.put(delivery_id, changed)

    async def delivery(self, delivery_id: int) -> Delivery | None:
        if self._t.deliveries.get(delivery_id) is None:
            return None
        return self._delivery(delivery_id)

    async def delivered(self, delivery_ids: Collection[int], now: datetime) -> None:
        for delivery_id in delivery_ids:
            row = self._t.deliveries.get(delivery_id)
            if row is not None:
                done = dataclasses.replace(
                    row, status=DELIVERED, due_at=now, tries=row.tries + 1, last_error=None
                )
                self._t.deliveries.put(delivery_id, done)

    async def add_attempts(self, attempts: Sequence[DeliveryAttempt]) -> None:
        for attempt in attempts:
            attempt_id = self._t.attempts.next_id()
            error = None if attempt.error is None else attempt.error[:500]
            stored = dataclasses.replace(attempt, id=attempt_id, error=error)
            self._t.attempts.put(attempt_id, stored)

    async def attempts(self, endpoint_id: int, after_id: int, limit: int) -> list[DeliveryAttempt]:
        found = sorted(self._t.attempts.group("endpoint", endpoint_id), key=lambda a: a.id)
        return [self._with_event(a) for a in found if a.id > after_id][: max(limit, 0)]

    async def latest_attempts(self, endpoint_id: int, limit: int) -> list[DeliveryAttempt]:
        found = sorted(self._t.attempts.group("endpoint", endpoint_id), key=lambda a: -a.id)
        return [self._with_event(a) for a in found[: max(limit, 0)]]

    def _with_event(self, attempt: DeliveryAttempt) -> DeliveryAttempt:
        row = self._t.deliveries.get(attempt.delivery_id)
        event = None if row is None else self._t.events.get(row.event_id)
        if event is None:
            return attempt
        return dataclasses.replace(attempt, event_id=event.id, type=event.type)
