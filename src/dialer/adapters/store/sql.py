"""The store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Every method of ``SqlUnitOfWork`` runs inside the unit's one transaction. Claims use
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so concurrent dispatchers never wait on, nor take,
each other's leads; SQLite has a single writer, so the clause is simply not rendered there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.adapters.store.tables import (
    DUE_PREDICATE,
    call_attempts,
    call_events,
    campaigns,
    contacts,
    do_not_call,
    leads,
    tenants,
)
from dialer.campaign_file import settings_from_mapping, settings_to_mapping
from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Contact, Lead
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import (
    DUE_LEAD,
    LIVE_ATTEMPT,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
)
from dialer.domain.window import format_ranges, parse_ranges
from dialer.errors import Conflict, NotFound
from dialer.ports import ContactDraft, Deferral, NewAttempt, ProviderEvent

_DUE = [s.value for s in DUE_LEAD]
_DUE_LITERAL = text(DUE_PREDICATE)
_LIVE = [s.value for s in LIVE_ATTEMPT]


@lru_cache(maxsize=256)
def _settings(document: str) -> CampaignSettings:
    return settings_from_mapping(json.loads(document))


def _campaign(row: Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        tenant_id=row.tenant_id,
        settings=_settings(json.dumps(row.settings, sort_keys=True)),
        status=CampaignStatus(row.status),
        version=row.version,
        created_at=row.created_at,
    )


def _lead(row: Row[Any]) -> Lead:
    return Lead(
        id=row.id,
        campaign_id=row.campaign_id,
        contact_id=row.contact_id,
        phone=row.phone,
        zone_key=row.zone_key,
        status=LeadStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_id=row.last_attempt_id,
        version=row.version,
        quiet_hours=parse_ranges(row.quiet_hours or ""),
    )


def _attempt(row: Row[Any]) -> CallAttempt:
    return CallAttempt(
        id=row.id,
        lead_id=row.lead_id,
        campaign_id=row.campaign_id,
        tenant_id=row.tenant_id,
        number=row.number,
        phone=row.phone,
        caller_id=row.caller_id,
        status=AttemptStatus(row.status),
        lease_id=row.lease_id,
        lease_expires_at=row.lease_expires_at,
        provider_call_id=row.provider_call_id,
        created_at=row.created_at,
        initiated_at=row.initiated_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        duration=row.duration,
        hangup_cause=row.hangup_cause,
    )


def _contact(row: Row[Any]) -> Contact:
    return Contact(
        id=row.id,
        tenant_id=row.tenant_id,
        phone=row.phone,
        name=row.name,
        timezone=row.timezone,
        tags=tuple(row.tags),
        attributes=dict(row.attributes),
        version=row.version,
    )


def _skipped(outcome: str, now: datetime) -> dict[str, Any]:
    """The values that mark leads SKIPPED: never dialled on purpose, with the reason."""
    return {
        "status": LeadStatus.SKIPPED.value,
        "outcome": outcome,
        "next_attempt_at": None,
        "version": leads.c.version + 1,
        "updated_at": now,
    }


def claim_statement(
    campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
) -> Select[Any]:
    """Due leads of one campaign in the given zones, oldest first, locked without waiting.

    With one zone key (how the dispatcher claims) this is an ordered range scan of the
    partial index ``ix_leads_due`` that stops after ``limit`` rows, however many leads the
    campaign has (docs/benchmarks.md shows the plan on a million leads)."""
    zone = (
        leads.c.zone_key == zone_keys[0]
        if len(zone_keys) == 1
        else leads.c.zone_key.in_(list(zone_keys))
    )
    return (
        select(leads)
        .where(
            leads.c.campaign_id == campaign_id,
            _DUE_LITERAL,  # as written in the partial index, so the planner can use it
            zone,
            leads.c.next_attempt_at <= now,
        )
        .order_by(leads.c.next_attempt_at, leads.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._dialect = conn.dialect.name

    async def commit(self) -> None:
        await self._conn.commit()

    def _insert(self, table: Any) -> Any:
        return (postgresql if self._dialect == "postgresql" else sqlite).insert(table)

    # -------------------------------------------------------------- tenants, campaigns

    async def tenant_id(self, name: str) -> int:
        found = await self._conn.scalar(select(tenants.c.id).where(tenants.c.name == name))
        if found is not None:
            return int(found)
        stmt = (
            self._insert(tenants)
            .values(name=name, created_at=func.now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        await self._conn.execute(stmt)
        created = await self._conn.scalar(select(tenants.c.id).where(tenants.c.name == name))
        return int(created or 0)

    async def add_campaign(
        self, tenant_id: int, settings: CampaignSettings, now: datetime
    ) -> Campaign:
        stmt = (
            campaigns.insert()
            .values(
                tenant_id=tenant_id,
                name=settings.name,
                status=CampaignStatus.DRAFT.value,
                priority=settings.priority,
                settings=settings_to_mapping(settings),
                version=1,
                created_at=now,
                updated_at=now,
            )
            .returning(campaigns.c.id)
        )
        new_id = int((await self._conn.execute(stmt)).scalar_one())
        return Campaign(new_id, tenant_id, settings, CampaignStatus.DRAFT, 1, now)

    async def get_campaign(self, campaign_id: int) -> Campaign:
        row = (
            await self._conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))
        ).first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return _campaign(row)

    async def campaigns_in(self, statuses: Sequence[CampaignStatus]) -> list[Campaign]:
        stmt = (
            select(campaigns)
            .where(campaigns.c.status.in_([s.value for s in statuses]))
            .order_by(campaigns.c.priority.desc(), campaigns.c.id)
        )
        return [_campaign(row) for row in await self._conn.execute(stmt)]

    async def save_campaign_status(self, campaign: Campaign, now: datetime) -> None:
        stmt = (
            update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.version == campaign.version)
            .values(status=campaign.status.value, version=campaign.version + 1, updated_at=now)
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise Conflict(f"campaign {campaign.id} was changed by someone else; reload it")
        campaign.version += 1

    # -------------------------------------------------------------- contacts, leads

    async def upsert_contacts(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        if not drafts:
            return []
        rows = [
            {
                "tenant_id": tenant_id,
                "phone": d.phone,
                "name": d.name,
                "timezone": d.timezone,
                "tags": list(d.tags),
                "attributes": dict(d.attributes),
                "quiet_hours": format_ranges(d.quiet_hours) or None,
                "version": 1,
                "created_at": now,
            }
            for d in drafts
        ]
        stmt = self._insert(contacts).on_conflict_do_nothing(index_elements=["tenant_id", "phone"])
        await self._conn.execute(stmt, rows)
        phones = [d.phone for d in drafts]
        found = await self._conn.execute(
            select(contacts.c.phone, contacts.c.id).where(
                contacts.c.tenant_id == tenant_id, contacts.c.phone.in_(phones)
            )
        )
        ids: dict[str, int] = {row.phone: row.id for row in found}
        return [int(ids[p]) for p in phones]

    async def get_contact(self, contact_id: int) -> Contact:
        row = (
            await self._conn.execute(select(contacts).where(contacts.c.id == contact_id))
        ).first()
        if row is None:
            raise NotFound(f"contact {contact_id} does not exist")
        return _contact(row)

    async def update_contact(self, contact: Contact) -> None:
        stmt = (
            update(contacts)
            .where(contacts.c.id == contact.id, contacts.c.version == contact.version)
            .values(
                name=contact.name,
                timezone=contact.timezone,
                tags=list(contact.tags),
                attributes=dict(contact.attributes),
                version=contact.version + 1,
            )
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise Conflict(f"contact {contact.id} was changed by someone else; reload it")
        contact.version += 1

    async def add_leads(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> int:
        if not items:
            return 0
        rows = [
            {
                "campaign_id": campaign.id,
                "contact_id": contact_id,
                "tenant_id": campaign.tenant_id,
                "phone": draft.phone,
                "zone_key": draft.zone_key,
                "quiet_hours": format_ranges(draft.quiet_hours) or None,
                "status": LeadStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "version": 1,
                "updated_at": now,
            }
            for contact_id, draft in items
        ]
        stmt = self._insert(leads).on_conflict_do_nothing(
            index_elements=["campaign_id", "contact_id"]
        )
        before = await self._count_leads(campaign.id)
        await self._conn.execute(stmt, rows)
        return await self._count_leads(campaign.id) - before

    async def _count_leads(self, campaign_id: int) -> int:
        stmt = select(func.count()).select_from(leads).where(leads.c.campaign_id == campaign_id)
        return int(await self._conn.scalar(stmt) or 0)

    async def due_zone_keys(self, campaign_id: int) -> set[str]:
        stmt = (
            select(leads.c.zone_key)
            .where(leads.c.campaign_id == campaign_id, leads.c.status.in_(_DUE))
            .distinct()
        )
        return set((await self._conn.scalars(stmt)).all())

    async def claim_due_leads(
        self, campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
    ) -> list[Lead]:
        if not zone_keys or limit <= 0:
            return []
        stmt = claim_statement(campaign_id, zone_keys, now, limit)
        return [_lead(row) for row in await self._conn.execute(stmt)]

    async def start_attempts(self, items: Sequence[NewAttempt], now: datetime) -> list[CallAttempt]:
        if not items:
            return []
        tenant_ids = await self._lead_tenants([i.lead.id for i in items])
        rows = [
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
            }
            for item in items
        ]
        result = await self._conn.execute(
            call_attempts.insert().returning(*call_attempts.c, sort_by_parameter_order=True),
            rows,
        )
        attempts = [_attempt(row) for row in result]
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

    async def defer_leads(self, deferrals: Sequence[Deferral], now: datetime) -> None:
        if not deferrals:
            return
        await self._conn.execute(
            update(leads)
            .where(leads.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next"),
                version=leads.c.version + 1,
                updated_at=now,
            ),
            [
                {"b_id": d.lead_id, "b_status": d.status.value, "b_next": d.next_attempt_at}
                for d in deferrals
            ],
        )

    async def skip_due_leads(
        self, campaign_id: int, zone_keys: Sequence[str], outcome: str, now: datetime
    ) -> int:
        stmt = (
            update(leads)
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.status.in_(_DUE),
                leads.c.zone_key.in_(list(zone_keys)),
            )
            .values(_skipped(outcome, now))
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def set_lead_status(
        self, campaign_id: int, from_statuses: Sequence[LeadStatus], to: LeadStatus, now: datetime
    ) -> int:
        stmt = (
            update(leads)
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.status.in_([s.value for s in from_statuses]),
            )
            .values(status=to.value, version=leads.c.version + 1, updated_at=now)
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def get_lead(self, lead_id: int, *, lock: bool = False) -> Lead:
        stmt = select(leads).where(leads.c.id == lead_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"lead {lead_id} does not exist")
        return _lead(row)

    async def save_lead(self, lead: Lead, outcome: str | None, now: datetime) -> None:
        values: dict[str, Any] = {
            "status": lead.status.value,
            "attempts": lead.attempts,
            "next_attempt_at": lead.next_attempt_at,
            "last_attempt_id": lead.last_attempt_id,
            "version": lead.version + 1,
            "updated_at": now,
        }
        if outcome is not None:
            values["outcome"] = outcome
        stmt = update(leads).where(leads.c.id == lead.id, leads.c.version == lead.version)
        if (await self._conn.execute(stmt.values(values))).rowcount != 1:
            raise Conflict(f"lead {lead.id} was changed concurrently")
        lead.version += 1

    async def has_open_leads(self, campaign_id: int) -> bool:
        open_statuses = [*_DUE, LeadStatus.DIALING.value]
        stmt = (
            select(leads.c.id)
            .where(leads.c.campaign_id == campaign_id, leads.c.status.in_(open_statuses))
            .limit(1)
        )
        return (await self._conn.scalar(stmt)) is not None

    async def skip_leads(self, lead_ids: Sequence[int], outcome: str, now: datetime) -> None:
        if not lead_ids:
            return
        await self._conn.execute(
            update(leads).where(leads.c.id.in_(list(lead_ids))).values(_skipped(outcome, now))
        )

    # -------------------------------------------------------------- contact safety

    async def tenant_settings(self, tenant_id: int) -> dict[str, Any]:
        stmt = select(tenants.c.settings).where(tenants.c.id == tenant_id)
        return dict(await self._conn.scalar(stmt) or {})

    async def set_tenant_settings(self, tenant_id: int, values: Mapping[str, Any]) -> None:
        stmt = update(tenants).where(tenants.c.id == tenant_id).values(settings=dict(values))
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise NotFound(f"tenant {tenant_id} does not exist")

    async def do_not_call_listed(self, tenant_id: int, phones: Sequence[str]) -> set[str]:
        if not phones:
            return set()
        stmt = select(do_not_call.c.phone).where(
            do_not_call.c.tenant_id.in_([0, tenant_id]), do_not_call.c.phone.in_(list(phones))
        )
        return set((await self._conn.scalars(stmt)).all())

    async def add_do_not_call(
        self, tenant_id: int, entries: Sequence[tuple[str, str | None]], now: datetime
    ) -> int:
        stmt = (
            self._insert(do_not_call)
            .on_conflict_do_nothing(index_elements=["tenant_id", "phone"])
            .returning(do_not_call.c.id)
        )
        added = 0
        for phone, reason in entries:  # RETURNING per row tells exactly which were new
            row = {"tenant_id": tenant_id, "phone": phone, "reason": reason, "created_at": now}
            added += (await self._conn.execute(stmt, row)).first() is not None
        return added

    async def remove_do_not_call(self, tenant_id: int, phones: Sequence[str]) -> int:
        stmt = delete(do_not_call).where(
            do_not_call.c.tenant_id == tenant_id, do_not_call.c.phone.in_(list(phones))
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def list_do_not_call(
        self, tenant_id: int, after_id: int, limit: int
    ) -> list[tuple[int, str, str | None, datetime]]:
        d = do_not_call.c
        stmt = (
            select(d.id, d.phone, d.reason, d.created_at)
            .where(d.tenant_id == tenant_id, d.id > after_id)
            .order_by(d.id)
            .limit(limit)
        )
        return [(r.id, r.phone, r.reason, r.created_at) for r in await self._conn.execute(stmt)]

    async def number_history(
        self, tenant_id: int, phones: Sequence[str], since: datetime
    ) -> dict[str, NumberHistory]:
        if not phones:
            return {}
        a = call_attempts.c
        stmt = select(a.phone, a.created_at, a.status, a.ended_at, a.provider_call_id).where(
            a.tenant_id == tenant_id, a.phone.in_(list(phones)), a.created_at >= since
        )
        starts: dict[str, list[datetime]] = {}
        talks: dict[str, datetime] = {}
        for row in await self._conn.execute(stmt):
            if row.status == AttemptStatus.CANCELED.value and row.provider_call_id is None:
                continue  # never sent: the provider refused it before creating a call
            starts.setdefault(row.phone, []).append(row.created_at)
            if row.status == AttemptStatus.COMPLETED.value and row.ended_at is not None:
                talks[row.phone] = max(row.ended_at, talks.get(row.phone, row.ended_at))
        return {
            phone: NumberHistory(tuple(starts.get(phone, ())), talks.get(phone))
            for phone in set(starts) | set(talks)
        }

    async def contact_history(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[CallAttempt, str]]:
        stmt = (
            select(call_attempts, campaigns.c.name.label("campaign_name"))
            .join(campaigns, campaigns.c.id == call_attempts.c.campaign_id)
            .where(call_attempts.c.tenant_id == tenant_id, call_attempts.c.phone == phone)
            .order_by(call_attempts.c.created_at.desc(), call_attempts.c.id.desc())
            .limit(limit)
        )
        return [(_attempt(row), row.campaign_name) for row in await self._conn.execute(stmt)]

    async def lead_counts(self, campaign_id: int) -> dict[LeadStatus, int]:
        stmt = (
            select(leads.c.status, func.count())
            .where(leads.c.campaign_id == campaign_id)
            .group_by(leads.c.status)
        )
        return {LeadStatus(status): int(n) for status, n in await self._conn.execute(stmt)}

    # -------------------------------------------------------------- attempts, events

    async def get_attempt(self, attempt_id: int, *, lock: bool = False) -> CallAttempt | None:
        stmt = select(call_attempts).where(call_attempts.c.id == attempt_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _attempt(row)

    async def attempt_by_call_id(self, provider_call_id: str) -> CallAttempt | None:
        stmt = select(call_attempts).where(call_attempts.c.provider_call_id == provider_call_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _attempt(row)

    async def save_attempt(self, attempt: CallAttempt) -> None:
        await self._conn.execute(
            update(call_attempts)
            .where(call_attempts.c.id == attempt.id)
            .values(
                status=attempt.status.value,
                provider_call_id=attempt.provider_call_id,
                lease_expires_at=attempt.lease_expires_at,
                initiated_at=attempt.initiated_at,
                answered_at=attempt.answered_at,
                ended_at=attempt.ended_at,
                duration=attempt.duration,
                hangup_cause=attempt.hangup_cause,
            )
        )

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

    async def record_event(
        self, attempt_id: int, event: ProviderEvent, effect: str, now: datetime
    ) -> bool:
        stmt = (
            self._insert(call_events)
            .values(
                attempt_id=attempt_id,
                provider_call_id=event.provider_call_id,
                dedupe_key=event.dedupe_key,
                progress=event.progress.value,
                occurred_at=event.occurred_at,
                received_at=now,
                effect=effect,
                payload=dict(event.raw),
            )
            .on_conflict_do_nothing(index_elements=["attempt_id", "dedupe_key"])
            .returning(call_events.c.id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def expired_attempts(self, now: datetime, limit: int) -> list[CallAttempt]:
        stmt = (
            select(call_attempts)
            .where(
                and_(
                    call_attempts.c.status.in_(_LIVE),
                    call_attempts.c.lease_expires_at < now,
                )
            )
            .order_by(call_attempts.c.lease_expires_at)
            .limit(limit)
        )
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def live_attempt_list(self) -> list[CallAttempt]:
        stmt = select(call_attempts).where(call_attempts.c.status.in_(_LIVE))
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def attempt_counts(self, campaign_id: int) -> dict[AttemptStatus, int]:
        stmt = (
            select(call_attempts.c.status, func.count())
            .where(call_attempts.c.campaign_id == campaign_id)
            .group_by(call_attempts.c.status)
        )
        return {AttemptStatus(status): int(n) for status, n in await self._conn.execute(stmt)}

    async def attempts_since(self, campaign_id: int, since: datetime) -> int:
        stmt = select(func.count()).where(
            call_attempts.c.campaign_id == campaign_id, call_attempts.c.created_at >= since
        )
        return int(await self._conn.scalar(stmt) or 0)

    async def live_attempts(self, campaign_id: int | None = None) -> int:
        stmt = select(func.count()).where(call_attempts.c.status.in_(_LIVE))
        if campaign_id is not None:
            stmt = stmt.where(call_attempts.c.campaign_id == campaign_id)
        return int(await self._conn.scalar(stmt) or 0)


class SqlStore:
    """The ``Store`` port on an SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.engine.connect() as conn:
            try:
                yield SqlUnitOfWork(conn)
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    async def close(self) -> None:
        await self.engine.dispose()
