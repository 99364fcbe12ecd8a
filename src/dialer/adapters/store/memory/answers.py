"""Answer-time counts in memory, with the SQL store's answers."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.ports.answer_store import EVERY, AnswerCounts, AnswerKey


class MemoryAnswerStats(MemoryRepository):
    async def add(self, increments: Mapping[AnswerKey, tuple[int, int]]) -> None:
        table = self._db.answer_stats
        for key, (attempts, answered) in increments.items():
            _, before_attempts, before_answered = table.get(key) or (key, 0, 0)
            table.put(key, (key, before_attempts + attempts, before_answered + answered))

    async def counts(
        self,
        tenant_id: int,
        campaign_id: int,
        contact_ids: Collection[int],
        *,
        levels: bool = True,
    ) -> AnswerCounts:
        wanted = set(contact_ids)
        tenant: dict[int, tuple[int, int]] = {}
        campaign: dict[int, tuple[int, int]] = {}
        contacts: dict[int, dict[int, tuple[int, int]]] = {}
        for key, attempts, answered in self._db.answer_stats.rows():
            counts = (attempts, answered)
            if key.tenant_id != tenant_id:
                continue
            if key.contact_id != EVERY and key.campaign_id == EVERY and key.contact_id in wanted:
                contacts.setdefault(key.contact_id, {})[key.hour] = counts
            elif levels and key.contact_id == EVERY and key.campaign_id == EVERY:
                tenant[key.hour] = counts
            elif levels and key.contact_id == EVERY and key.campaign_id == campaign_id:
                campaign[key.hour] = counts
        return AnswerCounts(tenant, campaign, contacts)
