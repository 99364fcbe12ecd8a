"""The provider's breaker and pacing state, shared by every process."""

from __future__ import annotations

from sqlalchemy import select

from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.provider_tables import provider_health
from dialer.domain.breaker import BreakerState, ProviderHealth


class SqlProviders(SqlRepository):
    async def save_health(self, health: ProviderHealth) -> None:
        values = {
            "breaker_state": health.breaker_state.value,
            "times_opened": health.times_opened,
            "retry_at": health.retry_at,
            "rate": health.rate,
            "ceiling": health.ceiling,
            "updated_at": health.updated_at,
        }
        stmt = self._insert(provider_health).values(account=health.account, **values)
        await self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["account"], set_=values)
        )

    async def health(self) -> list[ProviderHealth]:
        table_rows = await self._conn.execute(
            select(provider_health).order_by(provider_health.c.account)
        )
        return [
            ProviderHealth(
                row.account,
                BreakerState(row.breaker_state),
                row.times_opened,
                row.retry_at,
                row.rate,
                row.ceiling,
                row.updated_at,
            )
            for row in table_rows
        ]
