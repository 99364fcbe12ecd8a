"""Answer-time counts on SQL: one upsert per batch of increments, one read per lookup."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import or_, select

from dialer.adapters.store.answer_tables import answer_stats
from dialer.adapters.store.base import SqlRepository
from dialer.ports.answer_store import EVERY, AnswerCounts, AnswerKey


class SqlAnswerStats(SqlRepository):
    async def add(self, increments: Mapping[AnswerKey, tuple[int, int]]) -> None:
        if not increments:
            return
        rows = [
            {
                "tenant_id": key.tenant_id,
                "campaign_id": key.campaign_id,
                "contact_id": key.contact_id,
                "hour": key.hour,
                "attempts": attempts,
                "answered": answered,
            }
            # In key order: two writers lock the rows they share in the same order.
            for key, (attempts, answered) in sorted(
                increments.items(),
                key=lambda item: (
                    item[0].tenant_id,
                    item[0].campaign_id,
                    item[0].contact_id,
                    item[0].hour,
                ),
            )
        ]
        stmt = self._insert(answer_stats).values(rows)
        await self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "campaign_id", "contact_id", "hour"],
                set_={
                    "attempts": answer_stats.c.attempts + stmt.excluded.attempts,
                    "answered": answer_stats.c.answered + stmt.excluded.answered,
                },
            )
        )

    async def counts(
        self,
        tenant_id: int,
        campaign_id: int,
        contact_ids: Collection[int],
        *,
        levels: bool = True,
    ) -> AnswerCounts:
        c = answer_stats.c
        wanted = []
        if levels:
            wanted.append((c.campaign_id == EVERY) & (c.contact_id == EVERY))
            wanted.append((c.campaign_id == campaign_id) & (c.contact_id == EVERY))
        if contact_ids:
            wanted.append((c.campaign_id == EVERY) & c.contact_id.in_(list(contact_ids)))
        if not wanted:
            return AnswerCounts({}, {}, {})
        found = await self._conn.execute(
            select(answer_stats).where(c.tenant_id == tenant_id, or_(*wanted))
        )
        tenant: dict[int, tuple[int, int]] = {}
        campaign: dict[int, tuple[int, int]] = {}
        contacts: dict[int, dict[int, tuple[int, int]]] = {}
        for row in found:
            counts = (row.attempts, row.answered)
            if row.contact_id != EVERY:
                contacts.setdefault(row.contact_id, {})[row.hour] = counts
            elif row.campaign_id == EVERY:
                tenant[row.hour] = counts
            else:
                campaign[row.hour] = counts
        return AnswerCounts(tenant, campaign, contacts)
