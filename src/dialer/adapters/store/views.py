"""Read-only counts for progress, metrics and limits: no row changes here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from dialer.adapters.store import rows, waiting
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.cluster_tables import dead_letters
from dialer.adapters.store.tables import (
    call_attempts,
    leads,
)
from dialer.domain.statuses import (
    AttemptStatus,
    LeadStatus,
)
from dialer.ports import (
    WaitingGroup,
)


class SqlViews(SqlRepository):
    async def waiting_groups(self, campaign_id: int, now: datetime) -> list[WaitingGroup]:
        table_rows = await self._conn.execute(waiting.waiting_statement(campaign_id, now))
        return [
            WaitingGroup(
                row.zone_key,
                LeadStatus(row.status),
                row.waiting_on,
                bool(row.due_now),
                int(row.leads),
                row.next_at,
            )
            for row in table_rows
        ]

    async def lead_counts(self, campaign_id: int) -> dict[LeadStatus, int]:
        stmt = (
            select(leads.c.status, func.count())
            .where(leads.c.campaign_id == campaign_id)
            .group_by(leads.c.status)
        )
        return {LeadStatus(status): int(n) for status, n in await self._conn.execute(stmt)}

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
        stmt = select(func.count()).where(call_attempts.c.status.in_(rows.LIVE))
        if campaign_id is not None:
            stmt = stmt.where(call_attempts.c.campaign_id == campaign_id)
        if tenant_id is not None:
            stmt = stmt.where(call_attempts.c.tenant_id == tenant_id)
        return int(await self._conn.scalar(stmt) or 0)

    async def open_leads_in(self, campaign_ids: Sequence[int], at_most: int) -> int:
        if not campaign_ids:
            return 0
        due = (
            select(leads.c.id)
            .where(leads.c.campaign_id.in_(list(campaign_ids)), leads.c.status.in_(rows.DUE))
            .limit(at_most)
        )
        stmt = select(func.count()).select_from(due.subquery())
        return int(await self._conn.scalar(stmt) or 0)

    async def attempt_totals(self, tenant_id: int | None) -> tuple[int, dict[AttemptStatus, int]]:
        # One pass over the attempts, counting both figures (a scrape reads them: the table
        # holds every attempt ever made, so a second scan would double the scrape's cost).
        a = call_attempts.c
        stmt = select(a.status, func.count(), func.count(a.sent_at)).group_by(a.status)
        if tenant_id is not None:
            stmt = stmt.where(a.tenant_id == tenant_id)
        table_rows = (await self._conn.execute(stmt)).all()
        by_status = {AttemptStatus(s): int(n) for s, n, _ in table_rows}
        return sum(int(sent) for _, _, sent in table_rows), by_status

    async def due_lead_counts(
        self, campaign_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        if not campaign_ids:
            return {}
        c = leads.c
        stmt = (
            select(c.campaign_id, c.zone_key, func.count())
            .where(c.campaign_id.in_(list(campaign_ids)), rows.DUE_CLAUSE, c.next_attempt_at <= now)
            .group_by(c.campaign_id, c.zone_key)
        )
        return {(cid, key): int(n) for cid, key, n in await self._conn.execute(stmt)}

    async def open_dead_letter_count(self) -> int:
        d = dead_letters.c
        stmt = select(func.count()).where(d.replayed_at.is_(None), d.discarded_at.is_(None))
        return int(await self._conn.scalar(stmt) or 0)

    async def unsent_attempt_count(self, campaign_id: int | None = None) -> int:
        a = call_attempts.c  # the predicate of ix_call_attempts_unsent: an index-only count
        stmt = select(func.count()).where(
            a.status == AttemptStatus.QUEUED.value, a.sent_at.is_(None)
        )
        if campaign_id is not None:
            stmt = stmt.where(a.campaign_id == campaign_id)
        return int(await self._conn.scalar(stmt) or 0)
