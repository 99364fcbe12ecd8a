"""Contacts of a tenant and what was dialled to their numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import AttemptRow, ContactRow, json_copy
from dialer.domain.model import CallAttempt, Contact
from dialer.domain.safety import NumberHistory
from dialer.domain.statuses import AttemptStatus
from dialer.domain.window import format_ranges, parse_ranges
from dialer.errors import Conflict, NotFound
from dialer.ports.records import ContactDraft


def _was_sent(row: AttemptRow) -> bool:
    # A CANCELED attempt without a call id was refused before the provider created a call.
    return row.status is not AttemptStatus.CANCELED or row.provider_call_id is not None


class MemoryContacts(MemoryRepository):
    async def upsert(
        self, tenant_id: int, drafts: Sequence[ContactDraft], now: datetime
    ) -> list[int]:
        """Contact ids in draft order; an existing number keeps its id and its values."""
        return [self._id_for(tenant_id, draft, now) for draft in drafts]

    def _id_for(self, tenant_id: int, draft: ContactDraft, now: datetime) -> int:
        found = self._db.contacts.find("phone", (tenant_id, draft.phone))
        if found is not None:
            return found.id
        row = ContactRow(
            id=self._db.contacts.next_id(),
            tenant_id=tenant_id,
            phone=draft.phone,
            name=draft.name,
            timezone=draft.timezone,
            tags=tuple(draft.tags),
            attributes=json_copy(dict(draft.attributes)),
            quiet_hours=parse_ranges(format_ranges(draft.quiet_hours)),
            version=1,
            created_at=now,
        )
        self._db.contacts.put(row.id, row)
        return row.id

    async def get_many(self, contact_ids: Collection[int]) -> dict[int, Contact]:
        found = (self._db.contacts.get(contact_id) for contact_id in contact_ids)
        return {contact.id: contact for contact in (r.contact() for r in found if r is not None)}

    async def get(self, contact_id: int) -> Contact:
        row = self._db.contacts.get(contact_id)
        if row is None:
            raise NotFound(f"contact {contact_id} does not exist")
        return row.contact()

    async def update(self, contact: Contact) -> None:
        row = self._db.contacts.get(contact.id)
        if row is None or row.version != contact.version:
            raise Conflict(f"contact {contact.id} was changed by someone else; reload it")
        changed = dataclasses.replace(
            row,
            name=contact.name,
            timezone=contact.timezone,
            tags=tuple(contact.tags),
            attributes=json_copy(dict(contact.attributes)),
            version=row.version + 1,
        )
        self._db.contacts.put(row.id, changed)
        contact.version += 1

    async def number_history(
        self, tenant_id: int, phones: Sequence[str], since: datetime
    ) -> dict[str, NumberHistory]:
        found: dict[str, NumberHistory] = {}
        for phone in dict.fromkeys(phones):
            rows = self._db.attempts.group("number", (tenant_id, phone))
            sent = [r for r in rows if r.created_at >= since and _was_sent(r)]
            if sent:
                found[phone] = self._history(sorted(sent, key=lambda r: r.id))
        return found

    @staticmethod
    def _history(sent: list[AttemptRow]) -> NumberHistory:
        """Start times of the sent attempts, and the end of the latest conversation."""
        talks = [
            row.ended_at
            for row in sent
            if row.status is AttemptStatus.COMPLETED and row.ended_at is not None
        ]
        return NumberHistory(tuple(row.created_at for row in sent), max(talks, default=None))

    async def history(
        self, tenant_id: int, phone: str, limit: int
    ) -> list[tuple[CallAttempt, str]]:
        rows = self._db.attempts.group("number", (tenant_id, phone))
        newest = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
        return [
            (row.attempt(), campaign.settings.name)
            for row in newest
            if (campaign := self._db.campaigns.get(row.campaign_id)) is not None
        ][: max(limit, 0)]
