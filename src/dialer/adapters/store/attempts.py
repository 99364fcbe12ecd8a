"""Call attempts and their provider events."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update

from dialer.adapters.store import rows
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    call_attempts,
    call_events,
    leads,
)
from dialer.domain.model import CallAttempt
from dialer.domain.statuses import (
    AttemptStatus,
    LeadStatus,
)
from dialer.ports import (
    AttemptQuery,
    NewAttempt,
    ProviderEvent,
    RecordedEvent,
)

# The columns an attempt's changes are written to (``save`` and ``save_many``).
_SAVED = (
    "status",
    "provider_call_id",
    "lease_expires_at",
    "initiated_at",
    "answered_at",
    "ended_at",
    "duration",
    "hangup_cause",
    "answered_by",
)


def _saved_values(attempt: CallAttempt) -> dict[str, Any]:
    values = {name: getattr(attempt, name) for name in _SAVED}
    values["status"] = attempt.status.value
    values["answered_by"] = attempt.answered_by.value if attempt.answered_by else None
    return values


def _event_row(attempt_id: int, event: ProviderEvent, effect: str, now: datetime) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "provider_call_id": event.provider_call_id,
        "dedupe_key": event.dedupe_key,
        "progress": event.progress.value,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "effect": effect,
        "payload": dict(event.raw),
    }


class SqlAttempts(SqlRepository):
    async def start(self, items: Sequence[NewAttempt], now: datetime) -> list[CallAttempt]:
        if not items:
            return []
        tenant_ids = await self._lead_tenants([i.lead.id for i in items])
        table_rows = [
            {
                "lead_id": item.lead.id,
                "campaign_id": item.lead.campaign_id,
                "tenant_id": tenant_ids[item.lead.id],
                "number": item.lead.attempts + 1,
                "phone": item.lead.phone,
                "caller_id": item.caller_id,
                "status": AttemptStatus.QUEUED.value,
                "lease_id": item.lease_id,
                "lease_expires_at": item.lease_expires_at,
                "created_at": now,
                "traceparent": item.traceparent,
            }
            for item in items
        ]
        result = await self._conn.execute(
            call_attempts.insert().returning(*call_attempts.c, sort_by_parameter_order=True),
            table_rows,
        )
        attempts = [rows.attempt(row) for row in result]
        await self._conn.execute(
            update(leads)
            .where(leads.c.id == bindparam("b_id"))
            .values(
                status=LeadStatus.DIALING.value,
                attempts=leads.c.attempts + 1,
                last_attempt_id=bindparam("b_attempt"),
                version=leads.c.version + 1,
                updated_at=now,
            ),
            [{"b_id": a.lead_id, "b_attempt": a.id} for a in attempts],
        )
        return attempts

    async def _lead_tenants(self, lead_ids: list[int]) -> dict[int, int]:
        stmt = select(leads.c.id, leads.c.tenant_id).where(leads.c.id.in_(lead_ids))
        return {row.id: row.tenant_id for row in await self._conn.execute(stmt)}

    async def get(self, attempt_id: int, *, lock: bool = False) -> CallAttempt | None:
        stmt = select(call_attempts).where(call_attempts.c.id == attempt_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else rows.attempt(row)

    async def get_many(
        self, attempt_ids: Collection[int], *, lock: bool = False
    ) -> dict[int, CallAttempt]:
        if not attempt_ids:
            return {}
        stmt = (
            select(call_attempts)
            .where(call_attempts.c.id.in_(sorted(attempt_ids)))
            .order_by(call_attempts.c.id)
        )
        if lock:
            stmt = stmt.with_for_update()
        return {row.id: rows.attempt(row) for row in await self._conn.execute(stmt)}

    async def by_call_id(self, provider_call_id: str) -> CallAttempt | None:
        stmt = select(call_attempts).where(call_attempts.c.provider_call_id == provider_call_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else rows.attempt(row)

    async def save(self, attempt: CallAttempt) -> None:
        stmt = update(call_attempts).where(call_attempts.c.id == attempt.id)
        await self._conn.execute(stmt.values(_saved_values(attempt)))

    async def save_many(self, attempts: Sequence[CallAttempt]) -> None:
        if not attempts:
            return
        columns: dict[str, Any] = {name: bindparam(f"b_{name}") for name in _SAVED}
        stmt = update(call_attempts).where(call_attempts.c.id == bindparam("b_id"))
        params = [
            {"b_id": a.id, **{f"b_{k}": v for k, v in _saved_values(a).items()}} for a in attempts
        ]
        await self._conn.execute(stmt.values(columns), params)

    async def mark_sending(self, attempt_id: int, now: datetime) -> bool:
        stmt = (
            update(call_attempts)
            .where(
                call_attempts.c.id == attempt_id,
                call_attempts.c.status == AttemptStatus.QUEUED.value,
                call_attempts.c.sent_at.is_(None),
            )
            .values(sent_at=now)
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def mark_sending_many(self, attempt_ids: Collection[int], now: datetime) -> set[int]:
        if not attempt_ids:
            return set()
        a = call_attempts.c
        stmt = (
            update(call_attempts)
            .where(
                a.id.in_(sorted(attempt_ids)),
                a.status == AttemptStatus.QUEUED.value,
                a.sent_at.is_(None),
            )
            .values(sent_at=now)
            .returning(a.id)
        )
        return {row.id for row in await self._conn.execute(stmt)}

    async def accept_many(self, accepted: Mapping[int, str], now: datetime) -> None:
        if not accepted:
            return
        a = call_attempts.c
        queued = AttemptStatus.QUEUED.value
        stmt = (
            update(call_attempts)
            .where(a.id == bindparam("b_id"))
            .values(
                provider_call_id=func.coalesce(a.provider_call_id, bindparam("b_call")),
                initiated_at=func.coalesce(
                    a.initiated_at, bindparam("b_now", type_=a.initiated_at.type)
                ),
                status=case((a.status == queued, AttemptStatus.INITIATED.value), else_=a.status),
            )
        )
        params = [{"b_id": i, "b_call": c, "b_now": now} for i, c in sorted(accepted.items())]
        await self._conn.execute(stmt, params)

    async def event_keys(self, attempt_ids: Collection[int]) -> set[tuple[int, str]]:
        if not attempt_ids:
            return set()
        e = call_events.c
        stmt = select(e.attempt_id, e.dedupe_key).where(e.attempt_id.in_(sorted(attempt_ids)))
        return {(row.attempt_id, row.dedupe_key) for row in await self._conn.execute(stmt)}

    async def record_events(self, events: Sequence[RecordedEvent], now: datetime) -> None:
        if not events:
            return
        stmt = self._insert(call_events).on_conflict_do_nothing(
            index_elements=["attempt_id", "dedupe_key"]
        )
        params = [_event_row(r.attempt_id, r.event, r.effect, now) for r in events]
        await self._conn.execute(stmt, params)

    async def record_event(
        self, attempt_id: int, event: ProviderEvent, effect: str, now: datetime
    ) -> bool:
        stmt = (
            self._insert(call_events)
            .values(_event_row(attempt_id, event, effect, now))
            .on_conflict_do_nothing(index_elements=["attempt_id", "dedupe_key"])
            .returning(call_events.c.id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def expired(self, now: datetime, limit: int) -> list[CallAttempt]:
        stmt = (
            select(call_attempts)
            .where(
                and_(
                    call_attempts.c.status.in_(rows.LIVE),
                    call_attempts.c.lease_expires_at < now,
                )
            )
            .order_by(call_attempts.c.lease_expires_at)
            .limit(limit)
        )
        return [rows.attempt(row) for row in await self._conn.execute(stmt)]

    async def live(self) -> list[CallAttempt]:
        stmt = select(call_attempts).where(call_attempts.c.status.in_(rows.LIVE))
        return [rows.attempt(row) for row in await self._conn.execute(stmt)]

    async def find(self, query: AttemptQuery) -> list[CallAttempt]:
        a = call_attempts.c
        stmt = select(call_attempts).where(a.tenant_id == query.tenant_id)
        if query.before_id is not None:
            stmt = stmt.where(a.id < query.before_id)
        if query.campaign_id is not None:
            stmt = stmt.where(a.campaign_id == query.campaign_id)
        if query.statuses:
            stmt = stmt.where(a.status.in_([s.value for s in query.statuses]))
        if query.phone is not None:
            stmt = stmt.where(a.phone == query.phone)
        if query.since is not None:
            stmt = stmt.where(a.created_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(a.created_at < query.until)
        stmt = stmt.order_by(a.id.desc()).limit(query.limit)
        return [rows.attempt(row) for row in await self._conn.execute(stmt)]

    async def of_lead(self, lead_id: int) -> list[CallAttempt]:
        stmt = (
            select(call_attempts)
            .where(call_attempts.c.lead_id == lead_id)
            .order_by(call_attempts.c.id)
        )
        return [rows.attempt(row) for row in await self._conn.execute(stmt)]

    async def unsent(self, created_before: datetime, limit: int) -> list[CallAttempt]:
        a = call_attempts.c
        stmt = (
            select(call_attempts)
            .where(
                a.status == AttemptStatus.QUEUED.value,  # the live index's leading column
                a.sent_at.is_(None),
                a.created_at < created_before,
            )
            .order_by(a.created_at)
            .limit(limit)
        )
        return [rows.attempt(row) for row in await self._conn.execute(stmt)]
