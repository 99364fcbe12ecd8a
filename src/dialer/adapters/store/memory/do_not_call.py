"""Do-not-call lists: a tenant's own, and the platform's (tenant 0)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import DoNotCallRow
from dialer.ports.records import DoNotCallEntry

PLATFORM = 0  # the global list: every tenant obeys it


class MemoryDoNotCall(MemoryRepository):
    async def listed(self, tenant_id: int, phones: Sequence[str]) -> set[str]:
        return {
            phone
            for phone in phones
            for tenant in (PLATFORM, tenant_id)
            if self._db.do_not_call.find("phone", (tenant, phone)) is not None
        }

    async def add(
        self,
        tenant_id: int,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        added_by: int | None = None,
    ) -> int:
        added = 0
        for phone, reason in entries:
            if self._db.do_not_call.find("phone", (tenant_id, phone)) is None:
                row_id = self._db.do_not_call.next_id()
                row = DoNotCallRow(row_id, tenant_id, phone, reason, now, added_by)
                self._db.do_not_call.put(row_id, row)
                added += 1
        return added

    async def remove(self, tenant_id: int, phones: Sequence[str]) -> int:
        removed = 0
        for phone in dict.fromkeys(phones):
            row = self._db.do_not_call.find("phone", (tenant_id, phone))
            if row is not None:
                self._db.do_not_call.delete(row.id)
                removed += 1
        return removed

    async def page(self, tenant_id: int, after_id: int, limit: int) -> list[DoNotCallEntry]:
        rows = [r for r in self._db.do_not_call.group("tenant", tenant_id) if r.id > after_id]
        return [self._entry(row) for row in sorted(rows, key=lambda r: r.id)[: max(limit, 0)]]

    def _entry(self, row: DoNotCallRow) -> DoNotCallEntry:
        by = None if row.added_by is None else self._db.tenants.get(row.added_by)
        name = None if by is None else by.name
        return DoNotCallEntry(row.id, row.phone, row.reason, row.created_at, row.added_by, name)
