"""Leads: a contact in a campaign, from import through claims and deferrals to an end."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from dialer.adapters.store import bulk, lead_results, rows
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    call_attempts,
    do_not_call,
    leads,
)
from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.domain.statuses import (
    LeadStatus,
)
from dialer.errors import Conflict, NotFound
from dialer.ports import (
    ContactDraft,
    Deferral,
    LeadQuery,
    LeadResult,
)


class SqlLeads(SqlRepository):
    async def add(
        self, campaign: Campaign, items: Sequence[tuple[int, ContactDraft]], now: datetime
    ) -> int:
        if not items:
            return 0
        if self._bulk:
            return await bulk.add_leads(self._conn, campaign, items, now)
        table_rows = [
            rows.new_lead(campaign, contact_id, draft, now) for contact_id, draft in items
        ]
        stmt = (
            self._insert(leads)
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"])
            .returning(leads.c.id)
        )
        # RETURNING names only the table_rows inserted: no count of the whole campaign per chunk.
        return len((await self._conn.execute(stmt, table_rows)).all())

    async def due_zone_keys(self, campaign_id: int) -> set[str]:
        stmt = (
            select(leads.c.zone_key)
            .where(leads.c.campaign_id == campaign_id, leads.c.status.in_(rows.DUE))
            .distinct()
        )
        return set((await self._conn.scalars(stmt)).all())

    async def claim_due(
        self, campaign_id: int, zone_keys: Sequence[str], now: datetime, limit: int
    ) -> list[Lead]:
        if not zone_keys or limit <= 0:
            return []
        stmt = rows.claim_statement(campaign_id, zone_keys, now, limit)
        return [rows.lead(row) for row in await self._conn.execute(stmt)]

    async def defer(self, deferrals: Sequence[Deferral], now: datetime) -> None:
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

    async def skip_due(
        self, campaign_id: int, zone_keys: Sequence[str], outcome: str, now: datetime
    ) -> int:
        stmt = (
            update(leads)
            .where(
                leads.c.campaign_id == campaign_id,
                leads.c.status.in_(rows.DUE),
                leads.c.zone_key.in_(list(zone_keys)),
            )
            .values(rows.skipped(outcome, now))
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def move_all(
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

    async def get(self, lead_id: int, *, lock: bool = False) -> Lead:
        stmt = select(leads).where(leads.c.id == lead_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"lead {lead_id} does not exist")
        return rows.lead(row)

    async def get_many(self, lead_ids: Collection[int], *, lock: bool = False) -> dict[int, Lead]:
        if not lead_ids:
            return {}
        stmt = select(leads).where(leads.c.id.in_(sorted(lead_ids))).order_by(leads.c.id)
        if lock:
            stmt = stmt.with_for_update()
        return {row.id: rows.lead(row) for row in await self._conn.execute(stmt)}

    async def save(self, lead: Lead, outcome: str | None, now: datetime) -> None:
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

    async def has_open(self, campaign_id: int) -> bool:
        open_statuses = [*rows.DUE, LeadStatus.DIALING.value]
        stmt = (
            select(leads.c.id)
            .where(leads.c.campaign_id == campaign_id, leads.c.status.in_(open_statuses))
            .limit(1)
        )
        return (await self._conn.scalar(stmt)) is not None

    async def skip(self, lead_ids: Sequence[int], outcome: str, now: datetime) -> None:
        if not lead_ids:
            return
        await self._conn.execute(
            update(leads).where(leads.c.id.in_(list(lead_ids))).values(rows.skipped(outcome, now))
        )

    async def _leads_of_contacts(self, campaign_id: int, contact_ids: list[int]) -> dict[int, Lead]:
        stmt = select(leads).where(
            leads.c.campaign_id == campaign_id, leads.c.contact_id.in_(contact_ids)
        )
        return {row.contact_id: rows.lead(row) for row in await self._conn.execute(stmt)}

    async def queue(
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
                .where(leads.c.id.in_(finished), leads.c.status.in_(rows.TERMINAL))
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
            requeued = {row.contact_id: rows.lead(row) for row in await self._conn.execute(stmt)}
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
        table_rows = [
            rows.new_lead(campaign, contact_id, draft, now) for contact_id, draft in items
        ]
        stmt = (
            self._insert(leads)
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"])
            .returning(*leads.c)
        )
        # RETURNING names exactly the table_rows inserted (a conflicting one returns nothing).
        return {
            new.contact_id: rows.lead(new) for new in await self._conn.execute(stmt, table_rows)
        }

    async def trace(self, lead_ids: Sequence[int], traceparent: str) -> None:
        # the trace context of the API request that queued these leads
        if lead_ids:
            stmt = update(leads).where(leads.c.id.in_(list(lead_ids)))
            await self._conn.execute(stmt.values(traceparent=traceparent))

    async def find(self, query: LeadQuery) -> list[LeadResult]:
        table_rows = (await self._conn.execute(lead_results.page_statement(query))).all()
        last_ids = [row.last_attempt_id for row in table_rows if row.last_attempt_id is not None]
        lasts: dict[int, CallAttempt] = {}
        if last_ids:
            stmt = select(call_attempts).where(call_attempts.c.id.in_(last_ids))
            lasts = {row.id: rows.attempt(row) for row in await self._conn.execute(stmt)}
        return [rows.lead_result(row, lasts) for row in table_rows]

    async def skip_listed(self, campaign: Campaign, outcome: str, now: datetime) -> int:
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
