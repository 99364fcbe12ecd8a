"""Tenants: created on first use by name, with their contact-safety settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import TenantRow, json_copy
from dialer.errors import NotFound


class MemoryTenants(MemoryRepository):
    async def id_for(self, name: str) -> int:
        found = self._db.tenants.find("name", name)
        if found is not None:
            return found.id
        tenant = TenantRow(self._db.tenants.next_id(), name, datetime.now(UTC), {})
        self._db.tenants.put(tenant.id, tenant)
        return tenant.id

    async def settings(self, tenant_id: int) -> dict[str, Any]:
        tenant = self._db.tenants.get(tenant_id)
        return {} if tenant is None else dict(json_copy(tenant.settings))

    async def save_settings(self, tenant_id: int, values: Mapping[str, Any]) -> None:
        tenant = self._get(tenant_id)
        changed = dataclasses.replace(tenant, settings=json_copy(dict(values)))
        self._db.tenants.put(tenant_id, changed)

    async def name(self, tenant_id: int) -> str:
        return self._get(tenant_id).name

    def _get(self, tenant_id: int) -> TenantRow:
        tenant = self._db.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} does not exist")
        return tenant
