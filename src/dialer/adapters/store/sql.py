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

from dialer.adapters.store import bulk, lead_results, waiting
from dialer.adapters.store.api_tables import (
    api_keys,
    api_queues,
    dashboard_sessions,
    idempotency_keys,
)
from dialer.adapters.store.cluster_tables import dead_letters, node_heartbeats
from dialer.adapters.store.provider_tables import provider_health
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
from dialer.domain.breaker import BreakerState, ProviderHealth
from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Contact, Lead
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import (
    DUE_LEAD,
    LIVE_ATTEMPT,
    TERMINAL_LEAD,
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
)
from dialer.domain.window import format_ranges, parse_ranges
from dialer.errors import Conflict, NotFound
from dialer.ports import (
    AttemptQuery,
    CampaignRoute,
    ContactDraft,
    DashboardSession,
    DeadLetter,
    Deferral,
    DoNotCallEntry,
    LeadQuery,
    LeadResult,
    NewApiKey,
    NewAttempt,
    NewDeadLetter,
    NodeBeat,
    ProviderEvent,
    StoredApiKey,
    StoredResponse,
    WaitingGroup,
)

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
        updated_at=row.updated_at,
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
        traceparent=row.traceparent,
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
        traceparent=row.traceparent,
    )


def _lead_result(row: Row[Any], lasts: Mapping[int, CallAttempt]) -> LeadResult:
    lead = _lead(row)
    skip_reason = row.outcome if lead.status is LeadStatus.SKIPPED else None
    last = lasts.get(lead.last_attempt_id) if lead.last_attempt_id is not None else None
    return LeadResult(lead, row.contact_name, skip_reason, last)


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


def _lead_row(
    campaign: Campaign, contact_id: int, draft: ContactDraft, now: datetime
) -> dict[str, Any]:
    """A new lead: the contact in the campaign, due now."""
    return {
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
    def __init__(self, conn: AsyncConnection, *, bulk_statements: bool = True) -> None:
        self._conn = conn
        self._dialect = conn.dialect.name
        # PostgreSQL stores a chunk of contacts or leads in one statement (bulk.py).
        self._bulk = bulk_statements and self._dialect == "postgresql"

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
        return Campaign(new_id, tenant_id, settings, CampaignStatus.DRAFT, 1, now, now)

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
        campaign.updated_at = now

    # -------------------------------------------------------------- contacts, leads

    async def upsert_contacts(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        if not drafts:
            return []
        if self._bulk:
            return await bulk.upsert_contacts(self._conn, tenant_id, drafts, now)
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
        if self._bulk:
            return await bulk.add_leads(self._conn, campaign, items, now)
        rows = [_lead_row(campaign, contact_id, draft, now) for contact_id, draft in items]
        stmt = (
            self._insert(leads)
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"])
            .returning(leads.c.id)
        )
        # RETURNING names only the rows inserted: no count of the whole campaign per chunk.
        return len((await self._conn.execute(stmt, rows)).all())

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
                "traceparent": item.traceparent,
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
                waiting_on=bindparam("b_reason"),
                version=leads.c.version + 1,
                updated_at=now,
            ),
            [
                {
                    "b_id": d.lead_id,
                    "b_status": d.status.value,
                    "b_next": d.next_attempt_at,
                    "b_reason": d.reason,
                }
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
            "waiting_on": None,  # a retry or an end: no deferral holds it any more
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
        self,
        tenant_id: int,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        added_by: int | None = None,
    ) -> int:
        stmt = (
            self._insert(do_not_call)
            .on_conflict_do_nothing(index_elements=["tenant_id", "phone"])
            .returning(do_not_call.c.id)
        )
        added = 0
        for phone, reason in entries:  # RETURNING per row tells exactly which were new
            row = {
                "tenant_id": tenant_id,
                "phone": phone,
                "reason": reason,
                "created_at": now,
                "added_by": added_by,
            }
            added += (await self._conn.execute(stmt, row)).first() is not None
        return added

    async def remove_do_not_call(self, tenant_id: int, phones: Sequence[str]) -> int:
        stmt = delete(do_not_call).where(
            do_not_call.c.tenant_id == tenant_id, do_not_call.c.phone.in_(list(phones))
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def list_do_not_call(
        self, tenant_id: int, after_id: int, limit: int
    ) -> list[DoNotCallEntry]:
        d = do_not_call.c
        stmt = (
            select(d.id, d.phone, d.reason, d.created_at, d.added_by, tenants.c.name)
            .select_from(do_not_call.outerjoin(tenants, tenants.c.id == d.added_by))
            .where(d.tenant_id == tenant_id, d.id > after_id)
            .order_by(d.id)
            .limit(limit)
        )
        return [DoNotCallEntry(*row) for row in await self._conn.execute(stmt)]

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

    async def waiting_groups(self, campaign_id: int, now: datetime) -> list[WaitingGroup]:
        rows = await self._conn.execute(waiting.waiting_statement(campaign_id, now))
        return [
            WaitingGroup(
                row.zone_key,
                LeadStatus(row.status),
                row.waiting_on,
                bool(row.due_now),
                int(row.leads),
                row.next_at,
            )
            for row in rows
        ]

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

    async def live_attempts(
        self, campaign_id: int | None = None, *, tenant_id: int | None = None
    ) -> int:
        stmt = select(func.count()).where(call_attempts.c.status.in_(_LIVE))
        if campaign_id is not None:
            stmt = stmt.where(call_attempts.c.campaign_id == campaign_id)
        if tenant_id is not None:
            stmt = stmt.where(call_attempts.c.tenant_id == tenant_id)
        return int(await self._conn.scalar(stmt) or 0)

    # -------------------------------------------------------------- REST API (issue 5)
    # API keys, idempotency keys, API call queues and the call log. The tables live in
    # api_tables.py; see dialer.services.api_keys, adhoc_calls and call_log.

    async def tenant_name(self, tenant_id: int) -> str:
        name = await self._conn.scalar(select(tenants.c.name).where(tenants.c.id == tenant_id))
        if name is None:
            raise NotFound(f"tenant {tenant_id} does not exist")
        return str(name)

    def _api_key_query(self) -> Any:
        return select(api_keys, tenants.c.name.label("tenant")).join(
            tenants, tenants.c.id == api_keys.c.tenant_id
        )

    async def add_api_key(self, key: NewApiKey, now: datetime) -> StoredApiKey:
        await self._conn.execute(
            api_keys.insert().values(
                tenant_id=key.tenant_id,
                key_id=key.key_id,
                secret_hash=key.secret_hash,
                scope=key.scope,
                name=key.name,
                created_at=now,
            )
        )
        stored = await self.api_key(key.key_id)
        assert stored is not None
        return stored

    async def api_key(self, key_id: str) -> StoredApiKey | None:
        stmt = self._api_key_query().where(api_keys.c.key_id == key_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _api_key(row)

    async def api_keys(self, tenant_id: int | None) -> list[StoredApiKey]:
        stmt = self._api_key_query().order_by(api_keys.c.id)
        if tenant_id is not None:
            stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
        return [_api_key(row) for row in await self._conn.execute(stmt)]

    async def revoke_api_key(self, key_id: str, tenant_id: int | None, now: datetime) -> bool:
        stmt = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if tenant_id is not None:
            stmt = stmt.where(api_keys.c.tenant_id == tenant_id)
        return (await self._conn.execute(stmt)).rowcount == 1

    async def tenant_campaigns(self, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
        stmt = (
            select(campaigns)
            .where(campaigns.c.tenant_id == tenant_id, campaigns.c.id > after_id)
            .order_by(campaigns.c.id)
            .limit(limit)
        )
        return [_campaign(row) for row in await self._conn.execute(stmt)]

    async def save_campaign_settings(
        self, campaign: Campaign, settings: CampaignSettings, now: datetime
    ) -> None:
        stmt = (
            update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.version == campaign.version)
            .values(
                name=settings.name,
                priority=settings.priority,
                settings=settings_to_mapping(settings),
                version=campaign.version + 1,
                updated_at=now,
            )
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise Conflict(f"campaign {campaign.id} was changed by someone else; reload it")
        campaign.settings = settings
        campaign.version += 1

    async def claim_idempotency_key(
        self, tenant_id: int, key: str, fingerprint: str, now: datetime
    ) -> StoredResponse | None:
        # The placeholder row is this transaction's: a concurrent request with the same key
        # waits on the unique index until it commits (then reads its answer) or rolls back.
        stmt = (
            self._insert(idempotency_keys)
            .values(
                tenant_id=tenant_id,
                key=key,
                fingerprint=fingerprint,
                status_code=0,
                body={},
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(idempotency_keys.c.id)
        )
        if (await self._conn.execute(stmt)).first() is not None:
            return None
        i = idempotency_keys.c
        row = (
            await self._conn.execute(
                select(i.fingerprint, i.status_code, i.body).where(
                    i.tenant_id == tenant_id, i.key == key
                )
            )
        ).one()
        return StoredResponse(row.fingerprint, row.status_code, row.body)

    async def save_idempotent_response(
        self, tenant_id: int, key: str, status_code: int, body: Any
    ) -> None:
        i = idempotency_keys.c
        await self._conn.execute(
            update(idempotency_keys)
            .where(i.tenant_id == tenant_id, i.key == key)
            .values(status_code=status_code, body=body)
        )

    async def prune_idempotency_keys(self, before: datetime) -> int:
        stmt = delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
        return int((await self._conn.execute(stmt)).rowcount)

    # dashboard sign-in sessions; see dialer.api.dashboard.sessions

    async def add_dashboard_session(self, session: DashboardSession, keep: int) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            dashboard_sessions.insert().values(
                digest=session.digest,
                key_id=session.key_id,
                tenant_id=session.tenant_id,
                csrf=session.csrf,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                notices=[],
            )
        )
        kept = (
            select(d.digest)
            .where(d.key_id == session.key_id, d.digest != session.digest)
            .order_by(d.last_seen_at.desc(), d.created_at.desc())
            .limit(max(keep - 1, 0))
        )
        await self._conn.execute(
            delete(dashboard_sessions).where(
                d.key_id == session.key_id,
                d.digest != session.digest,
                d.digest.not_in(kept.scalar_subquery()),
            )
        )

    async def dashboard_session(self, digest: str) -> DashboardSession | None:
        d = dashboard_sessions.c
        stmt = select(d.digest, d.key_id, d.tenant_id, d.csrf, d.created_at, d.last_seen_at).where(
            d.digest == digest
        )
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else DashboardSession(*row)

    async def touch_dashboard_session(self, digest: str, now: datetime) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            update(dashboard_sessions).where(d.digest == digest).values(last_seen_at=now)
        )

    async def close_dashboard_session(self, digest: str) -> None:
        await self._conn.execute(
            delete(dashboard_sessions).where(dashboard_sessions.c.digest == digest)
        )

    async def dashboard_notices(self, digest: str) -> list[Any] | None:
        d = dashboard_sessions.c
        # FOR UPDATE on PostgreSQL; SQLite has one writer, so the clause is not rendered.
        stmt = select(d.notices).where(d.digest == digest).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else list(row.notices)

    async def save_dashboard_notices(self, digest: str, notices: list[Any]) -> None:
        d = dashboard_sessions.c
        await self._conn.execute(
            update(dashboard_sessions).where(d.digest == digest).values(notices=notices)
        )

    async def prune_dashboard_sessions(self, idle_before: datetime) -> int:
        d = dashboard_sessions.c
        revoked = select(api_keys.c.key_id).where(api_keys.c.revoked_at.is_not(None))
        stmt = delete(dashboard_sessions).where(
            (d.last_seen_at < idle_before) | d.key_id.in_(revoked.scalar_subquery())
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def api_queue(self, tenant_id: int, caller_id: str, answer_key: str) -> int | None:
        q = api_queues.c
        found = await self._conn.scalar(
            select(q.campaign_id).where(
                q.tenant_id == tenant_id, q.caller_id == caller_id, q.answer_key == answer_key
            )
        )
        return None if found is None else int(found)

    async def set_api_queue(
        self, tenant_id: int, caller_id: str, answer_key: str, campaign_id: int, old: int | None
    ) -> int:
        q = api_queues.c
        if old is None:
            stmt = (
                self._insert(api_queues)
                .values(
                    tenant_id=tenant_id,
                    caller_id=caller_id,
                    answer_key=answer_key,
                    campaign_id=campaign_id,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "caller_id", "answer_key"])
            )
        else:
            stmt = (
                update(api_queues)
                .where(
                    q.tenant_id == tenant_id,
                    q.caller_id == caller_id,
                    q.answer_key == answer_key,
                    q.campaign_id == old,
                )
                .values(campaign_id=campaign_id)
            )
        await self._conn.execute(stmt)
        current = await self.api_queue(tenant_id, caller_id, answer_key)
        assert current is not None
        return current

    async def api_queue_campaigns(self, tenant_id: int | None) -> list[int]:
        stmt = select(api_queues.c.campaign_id).order_by(api_queues.c.id)
        if tenant_id is not None:
            stmt = stmt.where(api_queues.c.tenant_id == tenant_id)
        return [int(i) for i in (await self._conn.scalars(stmt)).all()]

    async def reopen_campaign(self, campaign_id: int, now: datetime) -> bool:
        # Deliberately outside the campaign transition table: only API queues are reopened
        # (see dialer.services.adhoc_calls), never an operator's campaign.
        stmt = (
            update(campaigns)
            .where(
                campaigns.c.id == campaign_id,
                campaigns.c.status == CampaignStatus.COMPLETED.value,
            )
            .values(
                status=CampaignStatus.RUNNING.value,
                version=campaigns.c.version + 1,
                updated_at=now,
            )
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def stranded_campaigns(self, campaign_ids: Sequence[int]) -> list[int]:
        if not campaign_ids:
            return []
        has_due = (
            select(leads.c.id)
            .where(leads.c.campaign_id == campaigns.c.id, leads.c.status.in_(_DUE))
            .exists()
        )
        stmt = select(campaigns.c.id).where(
            campaigns.c.id.in_(list(campaign_ids)),
            campaigns.c.status == CampaignStatus.COMPLETED.value,
            has_due,
        )
        return [int(i) for i in (await self._conn.scalars(stmt)).all()]

    async def _leads_of_contacts(self, campaign_id: int, contact_ids: list[int]) -> dict[int, Lead]:
        stmt = select(leads).where(
            leads.c.campaign_id == campaign_id, leads.c.contact_id.in_(contact_ids)
        )
        return {row.contact_id: _lead(row) for row in await self._conn.execute(stmt)}

    async def queue_leads(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> list[tuple[Lead, bool]]:
        if not items:
            return []
        contact_ids = [contact_id for contact_id, _ in items]
        found = await self._leads_of_contacts(campaign.id, contact_ids)
        fresh = await self._insert_leads(campaign, [i for i in items if i[0] not in found], now)
        finished = [lead.id for lead in found.values() if lead.is_terminal]
        requeued: dict[int, Lead] = {}
        if finished:
            stmt = (
                update(leads)
                .where(leads.c.id.in_(finished), leads.c.status.in_(_TERMINAL_LEAD))
                .values(
                    status=LeadStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    outcome=None,
                    version=leads.c.version + 1,
                    updated_at=now,
                )
                .returning(*leads.c)
            )
            requeued = {row.contact_id: _lead(row) for row in await self._conn.execute(stmt)}
        if len(fresh) + len(found) < len(set(contact_ids)):  # a concurrent insert won
            found = await self._leads_of_contacts(campaign.id, contact_ids)
        current = {**found, **requeued, **fresh}
        return [(current[cid], cid in fresh or cid in requeued) for cid in contact_ids]

    async def _insert_leads(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> dict[int, Lead]:
        """Like add_leads, without counting the campaign's leads (an API queue only grows);
        returns the leads inserted, by contact."""
        if not items:
            return {}
        rows = [_lead_row(campaign, contact_id, draft, now) for contact_id, draft in items]
        stmt = (
            self._insert(leads)
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"])
            .returning(*leads.c)
        )
        # RETURNING names exactly the rows inserted (a conflicting one returns nothing).
        return {new.contact_id: _lead(new) for new in await self._conn.execute(stmt, rows)}

    async def trace_leads(self, lead_ids: Sequence[int], traceparent: str) -> None:
        # issue 8: the trace context of the API request that queued these leads
        if lead_ids:
            stmt = update(leads).where(leads.c.id.in_(list(lead_ids)))
            await self._conn.execute(stmt.values(traceparent=traceparent))

    async def open_leads_in(self, campaign_ids: Sequence[int], at_most: int) -> int:
        if not campaign_ids:
            return 0
        due = (
            select(leads.c.id)
            .where(leads.c.campaign_id.in_(list(campaign_ids)), leads.c.status.in_(_DUE))
            .limit(at_most)
        )
        stmt = select(func.count()).select_from(due.subquery())
        return int(await self._conn.scalar(stmt) or 0)

    async def find_attempts(self, query: AttemptQuery) -> list[CallAttempt]:
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
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def lead_attempts(self, lead_id: int) -> list[CallAttempt]:
        stmt = (
            select(call_attempts)
            .where(call_attempts.c.lead_id == lead_id)
            .order_by(call_attempts.c.id)
        )
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def find_leads(self, query: LeadQuery) -> list[LeadResult]:
        rows = (await self._conn.execute(lead_results.page_statement(query))).all()
        last_ids = [row.last_attempt_id for row in rows if row.last_attempt_id is not None]
        lasts: dict[int, CallAttempt] = {}
        if last_ids:
            stmt = select(call_attempts).where(call_attempts.c.id.in_(last_ids))
            lasts = {row.id: _attempt(row) for row in await self._conn.execute(stmt)}
        return [_lead_result(row, lasts) for row in rows]

    async def attempt_totals(self, tenant_id: int | None) -> tuple[int, dict[AttemptStatus, int]]:
        # One pass over the attempts, counting both figures (a scrape reads them: the table
        # holds every attempt ever made, so a second scan would double the scrape's cost).
        a = call_attempts.c
        stmt = select(a.status, func.count(), func.count(a.sent_at)).group_by(a.status)
        if tenant_id is not None:
            stmt = stmt.where(a.tenant_id == tenant_id)
        rows = (await self._conn.execute(stmt)).all()
        by_status = {AttemptStatus(s): int(n) for s, n, _ in rows}
        return sum(int(sent) for _, _, sent in rows), by_status

    # -------------------------------------------------------------- observability (issue 8)

    async def due_lead_counts(
        self, campaign_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        if not campaign_ids:
            return {}
        c = leads.c
        stmt = (
            select(c.campaign_id, c.zone_key, func.count())
            .where(c.campaign_id.in_(list(campaign_ids)), _DUE_LITERAL, c.next_attempt_at <= now)
            .group_by(c.campaign_id, c.zone_key)
        )
        return {(cid, key): int(n) for cid, key, n in await self._conn.execute(stmt)}

    async def open_dead_letter_count(self) -> int:
        d = dead_letters.c
        stmt = select(func.count()).where(d.replayed_at.is_(None), d.discarded_at.is_(None))
        return int(await self._conn.scalar(stmt) or 0)

    async def skip_listed_leads(self, campaign: Campaign, outcome: str, now: datetime) -> int:
        listed = select(do_not_call.c.phone).where(
            do_not_call.c.tenant_id.in_([0, campaign.tenant_id])
        )
        stmt = (
            update(leads)
            .where(
                leads.c.campaign_id == campaign.id,
                leads.c.status == LeadStatus.PENDING.value,
                leads.c.phone.in_(listed),
            )
            .values(
                status=LeadStatus.SKIPPED.value,
                outcome=outcome,
                next_attempt_at=None,
                version=leads.c.version + 1,
                updated_at=now,
            )
        )
        return int((await self._conn.execute(stmt)).rowcount)

    # -------------------------------------------------------------- distributed execution
    # (issue 4) dead letters, heartbeats, unsent attempts, queue routing; the tables are in
    # cluster_tables.py; see dialer.services.dlq, heartbeat and housekeeping.

    async def add_dead_letter(self, letter: NewDeadLetter, now: datetime) -> None:
        stmt = self._insert(dead_letters).values(
            tenant_id=letter.tenant_id,
            kind=letter.kind,
            dedupe_key=letter.key[:200],
            cause=letter.cause[:2000],
            payload=dict(letter.payload),
            attempts=letter.attempts,
            created_at=now,
            updated_at=now,
        )
        again = {
            "attempts": dead_letters.c.attempts + stmt.excluded.attempts,
            "cause": stmt.excluded.cause,
            "updated_at": now,
            "replayed_at": None,  # replayed, and failed again: open once more
        }
        await self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["kind", "dedupe_key"], set_=again)
        )

    async def dead_letters(
        self, tenant_id: int | None, after_id: int, limit: int, include_closed: bool
    ) -> list[DeadLetter]:
        d = dead_letters.c
        stmt = select(dead_letters).where(d.id > after_id).order_by(d.id).limit(limit)
        if tenant_id is not None:
            stmt = stmt.where(d.tenant_id == tenant_id)
        if not include_closed:
            stmt = stmt.where(d.replayed_at.is_(None), d.discarded_at.is_(None))
        return [self._dead_letter(row) for row in await self._conn.execute(stmt)]

    async def get_dead_letter(self, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
        stmt = select(dead_letters).where(dead_letters.c.id == letter_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else self._dead_letter(row)

    async def close_dead_letter(self, letter_id: int, how: str, now: datetime) -> bool:
        if how not in {"replayed", "discarded"}:
            raise ValueError(f"a dead letter is closed as replayed or discarded, not {how!r}")
        d = dead_letters.c
        stmt = (
            update(dead_letters)
            .where(d.id == letter_id, d.replayed_at.is_(None), d.discarded_at.is_(None))
            .values({f"{how}_at": now, "updated_at": now})
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    @staticmethod
    def _dead_letter(row: Row[Any]) -> DeadLetter:
        return DeadLetter(
            id=row.id,
            tenant_id=row.tenant_id,
            kind=row.kind,
            cause=row.cause,
            payload=dict(row.payload),
            attempts=row.attempts,
            created_at=row.created_at,
            replayed_at=row.replayed_at,
            discarded_at=row.discarded_at,
        )

    async def save_heartbeat(self, beat: NodeBeat) -> None:
        values = {
            "name": beat.name,
            "kind": beat.kind,
            "node": beat.node,
            "host": beat.host,
            "pid": beat.pid,
            "started_at": beat.started_at,
            "beat_at": beat.beat_at,
            "processed": beat.processed,
            "failed": beat.failed,
            "rate": beat.rate,
            "info": dict(beat.info),
        }
        stmt = self._insert(node_heartbeats).values(values)
        changed = {k: v for k, v in values.items() if k not in {"name", "started_at"}}
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=changed))

    async def heartbeats(self) -> list[NodeBeat]:
        h = node_heartbeats.c
        stmt = select(node_heartbeats).order_by(h.kind, h.node, h.pid)
        return [
            NodeBeat(
                name=row.name,
                kind=row.kind,
                node=row.node,
                host=row.host,
                pid=row.pid,
                started_at=row.started_at,
                beat_at=row.beat_at,
                processed=row.processed,
                failed=row.failed,
                rate=row.rate,
                info=dict(row.info),
            )
            for row in await self._conn.execute(stmt)
        ]

    async def prune_heartbeats(self, before: datetime) -> int:
        stmt = delete(node_heartbeats).where(node_heartbeats.c.beat_at < before)
        return int((await self._conn.execute(stmt)).rowcount)

    async def unsent_attempts(self, created_before: datetime, limit: int) -> list[CallAttempt]:
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
        return [_attempt(row) for row in await self._conn.execute(stmt)]

    async def unsent_attempt_count(self) -> int:
        a = call_attempts.c  # the predicate of ix_call_attempts_unsent: an index-only count
        stmt = select(func.count()).where(
            a.status == AttemptStatus.QUEUED.value, a.sent_at.is_(None)
        )
        return int(await self._conn.scalar(stmt) or 0)

    async def campaign_route(self, campaign_id: int) -> CampaignRoute:
        stmt = (
            select(campaigns.c.name, campaigns.c.priority, tenants.c.name.label("tenant"))
            .join(tenants, tenants.c.id == campaigns.c.tenant_id)
            .where(campaigns.c.id == campaign_id)
        )
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return CampaignRoute(row.tenant, row.name, row.priority)

    # -------------------------------------------------------------- providers (issue 7)

    async def save_provider_health(self, health: ProviderHealth) -> None:
        values = {
            "breaker_state": health.breaker_state.value,
            "times_opened": health.times_opened,
            "retry_at": health.retry_at,
            "rate": health.rate,
            "ceiling": health.ceiling,
            "updated_at": health.updated_at,
        }
        stmt = self._insert(provider_health).values(account=health.account, **values)
        await self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["account"], set_=values)
        )

    async def provider_health(self) -> list[ProviderHealth]:
        rows = await self._conn.execute(select(provider_health).order_by(provider_health.c.account))
        return [
            ProviderHealth(
                row.account,
                BreakerState(row.breaker_state),
                row.times_opened,
                row.retry_at,
                row.rate,
                row.ceiling,
                row.updated_at,
            )
            for row in rows
        ]


def _api_key(row: Row[Any]) -> StoredApiKey:
    return StoredApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant=row.tenant,
        key_id=row.key_id,
        secret_hash=row.secret_hash,
        scope=row.scope,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


_TERMINAL_LEAD = [s.value for s in TERMINAL_LEAD]  # REST API (issue 5)


class SqlStore:
    """The ``Store`` port on an SQLAlchemy async engine.

    ``bulk_statements=False`` keeps PostgreSQL on the portable statements for contacts and
    leads too (tests compare the two paths)."""

    def __init__(self, engine: AsyncEngine, *, bulk_statements: bool = True) -> None:
        self.engine = engine
        self.bulk_statements = bulk_statements

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.engine.connect() as conn:
            try:
                yield SqlUnitOfWork(conn, bulk_statements=self.bulk_statements)
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    async def close(self) -> None:
        await self.engine.dispose()
