"""The provider's breaker and pacing state, shared by every process."""

from __future__ import annotations

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.domain.breaker import ProviderHealth


class MemoryProviders(MemoryRepository):
    async def save_health(self, health: ProviderHealth) -> None:
        self._db.provider_health.put(health.account, health)  # frozen: stored as given

    async def health(self) -> list[ProviderHealth]:
        return sorted(self._db.provider_health.rows(), key=lambda h: h.account)
