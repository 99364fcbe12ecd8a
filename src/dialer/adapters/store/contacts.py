"""Contacts of a tenant and what was dialled to their numbers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, update

from dialer.adapters.store import bulk, rows
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    call_attempts,
    campaigns,
    contacts,
)
from dialer.domain.model import CallAttempt, Contact
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import (
    AttemptStatus,
)
from dialer.domain.window import format_ranges
from dialer.errors import Conflict, NotFound
from dialer.ports import (
    ContactDraft,
)


class SqlContacts(SqlRepository):
    async def upsert(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        if not drafts:
            return []
        if self._bulk:
            return await bulk.upsert_contacts(self._conn, tenant_id, drafts, now)
        table_rows = [
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
        await self._conn.execute(stmt, table_rows)
        phones = [d.phone for d in drafts]
        found = await self._conn.execute(
            select(contacts.c.phone, contacts.c.id).where(
                contacts.c.tenant_id == tenant_id, contacts.c.phone.in_(phones)
            )
        )
        ids: dict[str, int] = {row.phone: row.id for row in found}
        return [int(ids[p]) for p in phones]

    async def get_many(self, contact_ids: Collection[int]) -> dict[int, Contact]:
        if not contact_ids:
            return {}
        stmt = select(contacts).where(contacts.c.id.in_(sorted(contact_ids)))
        return {row.id: rows.contact(row) for row in await self._conn.execute(stmt)}

    async def get(self, contact_id: int) -> Contact:
        row = (
            await self._conn.execute(select(contacts).where(contacts.c.id == contact_id))
        ).first()
        if row is None:
            raise NotFound(f"contact {contact_id} does not exist")
        return rows.contact(row)

    async def update(self, contact: Contact) -> None:
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

    async def history(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[CallAttempt, str]]:
        stmt = (
            select(call_attempts, campaigns.c.name.label("campaign_name"))
            .join(campaigns, campaigns.c.id == call_attempts.c.campaign_id)
            .where(call_attempts.c.tenant_id == tenant_id, call_attempts.c.phone == phone)
            .order_by(call_attempts.c.created_at.desc(), call_attempts.c.id.desc())
            .limit(limit)
        )
        return [(rows.attempt(row), row.campaign_name) for row in await self._conn.execute(stmt)]
