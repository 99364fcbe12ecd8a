"""Leads: a contact in a campaign, from import through claims and deferrals to an end."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.lead_pages import page
from dialer.adapters.store.memory.rows import LeadRow
from dialer.domain.model import Campaign, Lead
from dialer.domain.statuses import TERMINAL_LEAD, LeadStatus
from dialer.domain.window import format_ranges, parse_ranges
from dialer.errors import Conflict, NotFound
from dialer.ports.records import ContactDraft, Deferral, LeadQuery, LeadResult


class MemoryLeads(MemoryRepository):
    async def add(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> int:
        added = 0
        for contact_id, draft in items:
            if self._db.leads.find("contact", (campaign.id, contact_id)) is None:
                self._insert(campaign, contact_id, draft, now)
                added += 1
        return added

    async def due_zone_keys(self, campaign_id: int) -> set[str]:
        return set(self._db.due_zones(campaign_id))

    async def claim_due(
        self, campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
    ) -> list[Lead]:
        # No lock to take: the unit holds the store's, so no other unit claims meanwhile.
        if not zone_keys or limit <= 0:
            return []
        due = [
            row
            for row in self._db.due_leads(campaign_id, zone_keys)
            if row.next_attempt_at is not None and row.next_attempt_at <= now
        ]
        oldest = heapq.nsmallest(limit, due, key=lambda r: (r.next_attempt_at or now, r.id))
        return [row.lead() for row in oldest]

    async def defer(self, deferrals: Sequence[Deferral], now: datetime) -> None:
        for d in deferrals:
            row = self._db.leads.get(d.lead_id)
            if row is not None:
                self._change(
                    row,
                    now,
                    status=d.status,
                    next_attempt_at=d.next_attempt_at,
                    waiting_on=d.reason,
                )

    async def skip_due(
        self, campaign_id: int, zone_keys: Sequence[str], outcome: str, now: datetime
    ) -> int:
        due = self._db.due_leads(campaign_id, zone_keys)
        for row in due:
            self._skip(row, outcome, now)
        return len(due)

    async def move_all(
        self, campaign_id: int, from_statuses: Sequence[LeadStatus], to: LeadStatus, now: datetime
    ) -> int:
        moved = [
            row
            for row in self._db.leads.group("campaign", campaign_id)
            if row.status in from_statuses
        ]
        for row in moved:
            self._change(row, now, status=to)
        return len(moved)

    async def get(self, lead_id: int, *, lock: bool = False) -> Lead:
        return self._row(lead_id).lead()

    async def get_many(self, lead_ids: Collection[int], *, lock: bool = False) -> dict[int, Lead]:
        found = (self._db.leads.get(i) for i in sorted(lead_ids))
        return {row.id: row.lead() for row in found if row is not None}

    async def save(self, lead: Lead, outcome: str | None, now: datetime) -> None:
        row = self._db.leads.get(lead.id)
        if row is None or row.version != lead.version:
            raise Conflict(f"lead {lead.id} was changed concurrently")
        self._change(
            row,
            now,
            status=lead.status,
            attempts=lead.attempts,
            next_attempt_at=lead.next_attempt_at,
            last_attempt_id=lead.last_attempt_id,
            waiting_on=None,  # a retry or an end: no deferral holds it any more
            outcome=row.outcome if outcome is None else outcome,
        )
        lead.version += 1

    async def has_open(self, campaign_id: int) -> bool:
        if self._db.due_zones(campaign_id):
            return True
        leads = self._db.leads.group("campaign", campaign_id)
        return any(row.status is LeadStatus.DIALING for row in leads)

    async def skip(self, lead_ids: Sequence[int], outcome: str, now: datetime) -> None:
        for lead_id in dict.fromkeys(lead_ids):
            row = self._db.leads.get(lead_id)
            if row is not None:
                self._skip(row, outcome, now)

    async def queue(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> list[tuple[Lead, bool]]:
        queued: dict[int, tuple[LeadRow, bool]] = {}
        for contact_id, draft in items:
            if contact_id not in queued:
                queued[contact_id] = self._queue_one(campaign, contact_id, draft, now)
        return [(queued[cid][0].lead(), queued[cid][1]) for cid, _ in items]

    async def find(self, query: LeadQuery) -> list[LeadResult]:
        return page(self._db, query)

    async def skip_listed(self, campaign: Campaign, outcome: str, now: datetime) -> int:
        listed = [
            row
            for row in self._db.leads.group("campaign", campaign.id)
            if row.status is LeadStatus.PENDING and self._is_listed(campaign.tenant_id, row.phone)
        ]
        for row in listed:
            self._skip(row, outcome, now)
        return len(listed)

    async def trace(self, lead_ids: Sequence[int], traceparent: str) -> None:
        # the trace context of the API request that queued these leads
        for lead_id in lead_ids:
            row = self._db.leads.get(lead_id)
            if row is not None:
                self._db.leads.put(lead_id, dataclasses.replace(row, traceparent=traceparent))

    def _queue_one(
        self, campaign: Campaign, contact_id: int, draft: ContactDraft, now: datetime
    ) -> tuple[LeadRow, bool]:
        """The contact's lead, and True when it is queued anew: inserted, or a finished
        lead made due again; an open lead is left as it is."""
        found = self._db.leads.find("contact", (campaign.id, contact_id))
        if found is None:
            return self._insert(campaign, contact_id, draft, now), True
        if found.status not in TERMINAL_LEAD:
            return found, False
        again = {"status": LeadStatus.PENDING, "attempts": 0, "next_attempt_at": now}
        return self._change(found, now, outcome=None, **again), True

    def _insert(
        self, campaign: Campaign, contact_id: int, draft: ContactDraft, now: datetime
    ) -> LeadRow:
        """A new lead: the contact in the campaign, due now."""
        row = LeadRow(
            id=self._db.leads.next_id(),
            campaign_id=campaign.id,
            contact_id=contact_id,
            tenant_id=campaign.tenant_id,
            phone=draft.phone,
            zone_key=draft.zone_key,
            status=LeadStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_attempt_id=None,
            outcome=None,
            # kept as the SQL column keeps them: written as text, read back
            quiet_hours=parse_ranges(format_ranges(draft.quiet_hours)),
            version=1,
            updated_at=now,
        )
        self._db.leads.put(row.id, row)
        return row

    def _change(self, row: LeadRow, now: datetime, **values: Any) -> LeadRow:
        """Store the row with these values, a new version and ``now`` as its last change."""
        changed = dataclasses.replace(row, version=row.version + 1, updated_at=now, **values)
        self._db.leads.put(row.id, changed)
        return changed

    def _skip(self, row: LeadRow, outcome: str, now: datetime) -> None:
        """Never dialled on purpose, with the reason."""
        self._change(row, now, status=LeadStatus.SKIPPED, outcome=outcome, next_attempt_at=None)

    def _is_listed(self, tenant_id: int, phone: str) -> bool:
        return any(
            self._db.do_not_call.find("phone", (tenant, phone)) is not None
            for tenant in (0, tenant_id)
        )

    def _row(self, lead_id: int) -> LeadRow:
        row = self._db.leads.get(lead_id)
        if row is None:
            raise NotFound(f"lead {lead_id} does not exist")
        return row
