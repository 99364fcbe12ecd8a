"""Do-not-call lists: a tenant's own, and the platform's (tenant 0)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    do_not_call,
    tenants,
)
from dialer.ports import (
    DoNotCallEntry,
)


class SqlDoNotCall(SqlRepository):
    async def listed(self, tenant_id: int, phones: Sequence[str]) -> set[str]:
        if not phones:
            return set()
        stmt = select(do_not_call.c.phone).where(
            do_not_call.c.tenant_id.in_([0, tenant_id]), do_not_call.c.phone.in_(list(phones))
        )
        return set((await self._conn.scalars(stmt)).all())

    async def add(
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

    async def remove(self, tenant_id: int, phones: Sequence[str]) -> int:
        stmt = delete(do_not_call).where(
            do_not_call.c.tenant_id == tenant_id, do_not_call.c.phone.in_(list(phones))
        )
        return int((await self._conn.execute(stmt)).rowcount)

    async def page(self, tenant_id: int, after_id: int, limit: int) -> list[DoNotCallEntry]:
        d = do_not_call.c
        stmt = (
            select(d.id, d.phone, d.reason, d.created_at, d.added_by, tenants.c.name)
            .select_from(do_not_call.outerjoin(tenants, tenants.c.id == d.added_by))
            .where(d.tenant_id == tenant_id, d.id > after_id)
            .order_by(d.id)
            .limit(limit)
        )
        return [DoNotCallEntry(*row) for row in await self._conn.execute(stmt)]
