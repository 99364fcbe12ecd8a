"""Read-only counts for progress, metrics and limits: no row changes here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import LeadRow
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports.records import WaitingGroup

GroupKey = tuple[str, LeadStatus, str | None, bool]


def _due_now(row: LeadRow, now: datetime) -> bool:
    return row.next_attempt_at is None or row.next_attempt_at <= now


def _waiting_group(key: GroupKey, rows: list[LeadRow]) -> WaitingGroup:
    times = [row.next_attempt_at for row in rows if row.next_attempt_at is not None]
    return WaitingGroup(*key, leads=len(rows), next_at=min(times, default=None))


class MemoryViews(MemoryRepository):
    async def waiting_groups(self, campaign_id: int, now: datetime) -> list[WaitingGroup]:
        groups: dict[GroupKey, list[LeadRow]] = {}
        for row in self._db.due_leads(campaign_id):
            key = (row.zone_key, row.status, row.waiting_on, _due_now(row, now))
            groups.setdefault(key, []).append(row)
        return [_waiting_group(key, rows) for key, rows in groups.items()]

    async def lead_counts(self, campaign_id: int) -> dict[LeadStatus, int]:
        return dict(Counter(row.status for row in self._db.leads.group("campaign", campaign_id)))

    async def attempt_counts(self, campaign_id: int) -> dict[AttemptStatus, int]:
        rows = self._db.attempts.group("campaign", campaign_id)
        return dict(Counter(row.status for row in rows))

    async def attempts_since(self, campaign_id: int, since: datetime) -> int:
        rows = self._db.attempts.group("campaign", campaign_id)
        return sum(1 for row in rows if row.created_at >= since)

    async def live_attempts(
        self, campaign_id: int | None = None, *, tenant_id: int | None = None
    ) -> int:
        return sum(
            1
            for row in self._db.attempts.group("live", True)
            if campaign_id in (None, row.campaign_id) and tenant_id in (None, row.tenant_id)
        )

    async def open_leads_in(self, campaign_ids: Sequence[int], at_most: int) -> int:
        due = sum(len(self._db.due_leads(cid)) for cid in dict.fromkeys(campaign_ids))
        return min(due, max(at_most, 0))

    async def attempt_totals(self, tenant_id: int | None) -> tuple[int, dict[AttemptStatus, int]]:
        rows = [r for r in self._db.attempts.rows() if tenant_id in (None, r.tenant_id)]
        sent = sum(1 for row in rows if row.sent_at is not None)
        return sent, dict(Counter(row.status for row in rows))

    async def unsent_attempt_count(self, campaign_id: int | None = None) -> int:
        if campaign_id is None:
            return self._db.attempts.group_size("unsent", True)
        return sum(
            1 for r in self._db.attempts.group("unsent", True) if r.campaign_id == campaign_id
        )

    async def due_lead_counts(
        self, campaign_ids: Sequence[int], now: datetime
    ) -> dict[tuple[int, str], int]:
        counts: Counter[tuple[int, str]] = Counter()
        for cid in dict.fromkeys(campaign_ids):
            for row in self._db.due_leads(cid):
                if row.next_attempt_at is not None and row.next_attempt_at <= now:
                    counts[(cid, row.zone_key)] += 1
        return dict(counts)

    async def open_dead_letter_count(self) -> int:
        return sum(1 for row in self._db.dead_letters.rows() if row.is_open)
