"""Tenants: created on first use by name, with their contact-safety settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    tenants,
)
from dialer.errors import NotFound


class SqlTenants(SqlRepository):
    async def id_for(self, name: str) -> int:
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

    async def settings(self, tenant_id: int) -> dict[str, Any]:
        stmt = select(tenants.c.settings).where(tenants.c.id == tenant_id)
        return dict(await self._conn.scalar(stmt) or {})

    async def save_settings(self, tenant_id: int, values: Mapping[str, Any]) -> None:
        stmt = update(tenants).where(tenants.c.id == tenant_id).values(settings=dict(values))
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise NotFound(f"tenant {tenant_id} does not exist")

    async def name(self, tenant_id: int) -> str:
        name = await self._conn.scalar(select(tenants.c.name).where(tenants.c.id == tenant_id))
        if name is None:
            raise NotFound(f"tenant {tenant_id} does not exist")
        return str(name)
