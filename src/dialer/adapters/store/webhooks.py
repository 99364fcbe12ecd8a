"""Outbound webhooks in SQL: endpoints, the outbox (events fanned out to deliveries as they
are written), claims of due deliveries (SKIP LOCKED), and the attempts made."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import aliased

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.webhook_tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    webhook_lead_sequences,
)
from dialer.ports.webhook_store import (
    DELIVERED,
    PENDING,
    Delivery,
    DeliveryAttempt,
    Endpoint,
    NewEvent,
)

_E = webhook_endpoints.c
_D = webhook_deliveries.c
_V = webhook_events.c
_ENDPOINT_FIELDS = (
    "url",
    "events",
    "description",
    "enabled",
    "secret",
    "previous_secret",
    "previous_until",
    "failures",
    "paused_until",
    "disabled_reason",
)


def _endpoint(row: Any) -> Endpoint:
    values = row._mapping
    return Endpoint(**{c.name: values[c.name] for c in webhook_endpoints.columns})


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        event_id=m["event_id"],
        endpoint_id=m["endpoint_id"],
        tenant_id=m["tenant_id"],
        type=m["type"],
        data=m["data"],
        event_at=m["created_at"],
        lead_id=m["lead_id"],
        sequence=m["sequence"],
        tries=m["tries"],
        status=m["status"],
        due_at=m["due_at"],
        last_error=m["last_error"],
    )


def _attempt(row: Any) -> DeliveryAttempt:
    m = row._mapping
    return DeliveryAttempt(
        id=m["id"],
        delivery_id=m["delivery_id"],
        endpoint_id=m["endpoint_id"],
        at=m["at"],
        status_code=m["status_code"],
        latency_ms=m["latency_ms"],
        error=m["error"],
        event_id=m["event_id"],
        type=m["type"],
    )


_DELIVERY_COLUMNS = (
    webhook_deliveries.c.id,
    _D.event_id,
    _D.endpoint_id,
    _V.tenant_id,
    _V.type,
    _V.data,
    _V.created_at,
    _D.lead_id,
    _D.sequence,
    _D.tries,
    _D.status,
    _D.due_at,
    _D.last_error,
)


class SqlWebhooks(SqlRepository):
    async def add_endpoint(
        self,
        tenant_id: int,
        url: str,
        events: Sequence[str],
        description: str,
        secret: str,
        now: datetime,
    ) -> Endpoint:
        values = {
            "tenant_id": tenant_id,
            "url": url,
            "events": list(events),
            "description": description,
            "enabled": True,
            "secret": secret,
            "failures": 0,
            "created_at": now,
            "updated_at": now,
        }
        stmt = insert(webhook_endpoints).values(**values).returning(*webhook_endpoints.c)
        return _endpoint((await self._conn.execute(stmt)).one())

    async def endpoint(self, endpoint_id: int, *, lock: bool = False) -> Endpoint | None:
        stmt = select(webhook_endpoints).where(_E.id == endpoint_id)
        row = (await self._conn.execute(stmt.with_for_update() if lock else stmt)).first()
        return None if row is None else _endpoint(row)

    async def endpoints(self, tenant_id: int) -> list[Endpoint]:
        stmt = select(webhook_endpoints).where(_E.tenant_id == tenant_id).order_by(_E.id)
        return [_endpoint(row) for row in await self._conn.execute(stmt)]

    async def endpoints_by_id(self, endpoint_ids: Sequence[int]) -> dict[int, Endpoint]:
        if not endpoint_ids:
            return {}
        stmt = select(webhook_endpoints).where(_E.id.in_(list(endpoint_ids)))
        found = [_endpoint(row) for row in await self._conn.execute(stmt)]
        return {endpoint.id: endpoint for endpoint in found}

    async def save_endpoint(self, endpoint: Endpoint, now: datetime) -> None:
        values = {name: getattr(endpoint, name) for name in _ENDPOINT_FIELDS}
        stmt = update(webhook_endpoints).where(_E.id == endpoint.id)
        await self._conn.execute(stmt.values(**values, updated_at=now))
        endpoint.updated_at = now

    async def subscriptions(self) -> dict[int, set[str]]:
        stmt = select(_E.tenant_id, _E.events).where(_E.enabled.is_(True))
        found: dict[int, set[str]] = {}
        for tenant_id, events in await self._conn.execute(stmt):
            found.setdefault(tenant_id, set()).update(events)
        return found

    async def record(self, events: Sequence[NewEvent], now: datetime) -> int:
        if not events:
            return 0
        targets = await self._targets({e.tenant_id for e in events})
        written = 0
        for event in events:
            endpoint_ids = _subscribed(targets, event)
            if endpoint_ids:
                written += await self._write(event, endpoint_ids, now)
        return written

    async def _targets(self, tenant_ids: set[int]) -> list[tuple[int, int, list[str]]]:
        stmt = select(_E.id, _E.tenant_id, _E.events).where(
            _E.enabled.is_(True), _E.tenant_id.in_(tenant_ids)
        )
        return [(r.id, r.tenant_id, r.events) for r in await self._conn.execute(stmt)]

    async def _write(self, event: NewEvent, endpoint_ids: list[int], now: datetime) -> int:
        sequence = None if event.lead_id is None else await self._next_sequence(event.lead_id)
        values = {
            "tenant_id": event.tenant_id,
            "type": event.type,
            "lead_id": event.lead_id,
            "sequence": sequence,
            "data": event.data,
            "created_at": now,
        }
        stmt = insert(webhook_events).values(**values).returning(_V.id)
        event_id = (await self._conn.execute(stmt)).scalar_one()
        deliveries = [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "lead_id": event.lead_id,
                "sequence": sequence,
                "status": PENDING,
                "due_at": now,
                "tries": 0,
            }
            for endpoint_id in endpoint_ids
        ]
        await self._conn.execute(insert(webhook_deliveries), deliveries)
        return len(deliveries)

    async def _next_sequence(self, lead_id: int) -> int:
        stmt = self._insert(webhook_lead_sequences).values(lead_id=lead_id, sequence=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["lead_id"],
            set_={"sequence": webhook_lead_sequences.c.sequence + 1},
        ).returning(webhook_lead_sequences.c.sequence)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def claim_due(
        self,
        now: datetime,
        leased_until: datetime,
        limit: int,
        skip_endpoints: Collection[int] = (),
    ) -> list[Delivery]:
        earlier = aliased(webhook_deliveries)
        blocked = exists().where(
            earlier.c.endpoint_id == _D.endpoint_id,
            earlier.c.lead_id == _D.lead_id,
            earlier.c.sequence < _D.sequence,
            earlier.c.status == PENDING,
        )
        open_endpoints = select(_E.id).where(
            _E.enabled.is_(True), (_E.paused_until.is_(None)) | (_E.paused_until <= now)
        )
        ids_stmt = (
            select(_D.id)
            .where(_D.status == PENDING, _D.due_at <= now)
            .where(_D.endpoint_id.in_(open_endpoints), ~blocked)
            .where(_D.endpoint_id.not_in(list(skip_endpoints)))
            .order_by(_D.due_at, _D.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self._conn.execute(ids_stmt)).scalars())
        if not ids:
            return []
        lease = update(webhook_deliveries).where(_D.id.in_(ids)).values(due_at=leased_until)
        await self._conn.execute(lease)
        return await self._deliveries(ids)

    async def _deliveries(self, ids: Sequence[int]) -> list[Delivery]:
        joined = webhook_deliveries.join(webhook_events, _V.id == _D.event_id)
        stmt = select(*_DELIVERY_COLUMNS).select_from(joined).where(_D.id.in_(list(ids)))
        found = [_delivery(row) for row in await self._conn.execute(stmt.order_by(_D.id))]
        return sorted(found, key=lambda d: (d.endpoint_id, d.lead_id or 0, d.sequence or 0, d.id))

    async def settle(
        self, delivery_id: int, status: str, due_at: datetime, tries: int, error: str | None
    ) -> None:
        values = {"status": status, "due_at": due_at, "tries": tries}
        values["last_error"] = None if error is None else error[:500]
        await self._conn.execute(
            update(webhook_deliveries).where(_D.id == delivery_id).values(**values)
        )

    async def delivery(self, delivery_id: int) -> Delivery | None:
        found = await self._deliveries([delivery_id])
        return found[0] if found else None

    async def delivered(self, delivery_ids: Collection[int], now: datetime) -> None:
        if not delivery_ids:
            return
        stmt = update(webhook_deliveries).where(_D.id.in_(list(delivery_ids)))
        values = {"status": DELIVERED, "due_at": now, "tries": _D.tries + 1, "last_error": None}
        await self._conn.execute(stmt.values(**values))

    async def add_attempts(self, attempts: Sequence[DeliveryAttempt]) -> None:
        if not attempts:
            return
        rows = [
            {
                "delivery_id": a.delivery_id,
                "endpoint_id": a.endpoint_id,
                "at": a.at,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": None if a.error is None else a.error[:500],
            }
            for a in attempts
        ]
        await self._conn.execute(insert(webhook_attempts), rows)

    async def attempts(self, endpoint_id: int, after_id: int, limit: int) -> list[DeliveryAttempt]:
        a = webhook_attempts.c
        stmt = _attempts_of(endpoint_id).where(a.id > after_id).order_by(a.id).limit(limit)
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def latest_attempts(self, endpoint_id: int, limit: int) -> list[DeliveryAttempt]:
        stmt = _attempts_of(endpoint_id).order_by(webhook_attempts.c.id.desc()).limit(limit)
        return [_attempt(row) for row in await self._conn.execute(stmt)]


def _attempts_of(endpoint_id: int) -> Any:
    """The endpoint's attempts, each with its event's id and type."""
    a = webhook_attempts.c
    joined = webhook_attempts.join(webhook_deliveries, _D.id == a.delivery_id).join(
        webhook_events, _V.id == _D.event_id
    )
    return (
        select(webhook_attempts, _D.event_id, _V.type)
        .select_from(joined)
        .where(a.endpoint_id == endpoint_id)
    )


def _subscribed(targets: list[tuple[int, int, list[str]]], event: NewEvent) -> list[int]:
    """The endpoints that get the event: the one named, else the tenant's subscribed ones."""
    if event.endpoint_id is not None:
        return [i for i, t, _ in targets if i == event.endpoint_id and t == event.tenant_id]
    return [i for i, t, types in targets if t == event.tenant_id and event.type in types]
