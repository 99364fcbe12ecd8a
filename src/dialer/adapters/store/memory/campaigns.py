"""Campaigns: settings, status (versioned), API call queues and the routing of their jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from dialer.adapters.store.memory.base import MemoryRepository
from dialer.adapters.store.memory.rows import CampaignRow, QueueRow, json_copy
from dialer.campaign_document import settings_from_mapping, settings_to_mapping
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.statuses import CampaignStatus
from dialer.errors import Conflict, NotFound
from dialer.ports.records import CampaignRoute


def stored(settings: CampaignSettings) -> CampaignSettings:
    """The settings as the store keeps them: through the campaign document, as the SQL
    store's JSON column does, so what does not survive there does not survive here."""
    return settings_from_mapping(json_copy(settings_to_mapping(settings)))


class MemoryCampaigns(MemoryRepository):
    async def add(self, tenant_id: int, settings: CampaignSettings, now: datetime) -> Campaign:
        row = CampaignRow(
            self._db.campaigns.next_id(),
            tenant_id,
            stored(settings),
            CampaignStatus.DRAFT,
            1,
            now,
            now,
        )
        self._db.campaigns.put(row.id, row)
        return Campaign(row.id, tenant_id, settings, CampaignStatus.DRAFT, 1, now, now)

    async def get(self, campaign_id: int) -> Campaign:
        return self._row(campaign_id).campaign()

    async def in_status(self, statuses: Sequence[CampaignStatus]) -> list[Campaign]:
        found = [row for s in set(statuses) for row in self._db.campaigns.group("status", s)]
        found.sort(key=lambda row: (-row.settings.priority, row.id))
        return [row.campaign() for row in found]

    async def save_status(self, campaign: Campaign, now: datetime) -> None:
        row = self._current(campaign)
        self._db.campaigns.put(
            row.id,
            dataclasses.replace(
                row, status=campaign.status, version=row.version + 1, updated_at=now
            ),
        )
        campaign.version += 1
        campaign.updated_at = now

    async def of_tenant(self, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
        rows = [r for r in self._db.campaigns.group("tenant", tenant_id) if r.id > after_id]
        return [row.campaign() for row in sorted(rows, key=lambda r: r.id)[:limit]]

    async def save_settings(
        self, campaign: Campaign, settings: CampaignSettings, now: datetime
    ) -> None:
        row = self._current(campaign)
        self._db.campaigns.put(
            row.id,
            dataclasses.replace(
                row, settings=stored(settings), version=row.version + 1, updated_at=now
            ),
        )
        campaign.settings = settings
        campaign.version += 1

    async def queue_for(self, tenant_id: int, caller_id: str, answer_key: str) -> int | None:
        queue = self._db.queues.find("route", (tenant_id, caller_id, answer_key))
        return None if queue is None else queue.campaign_id

    async def set_queue(
        self, tenant_id: int, caller_id: str, answer_key: str, campaign_id: int, old: int | None
    ) -> int:
        queue = self._db.queues.find("route", (tenant_id, caller_id, answer_key))
        if queue is None and old is None:
            queue = QueueRow(
                self._db.queues.next_id(), tenant_id, caller_id, answer_key, campaign_id
            )
            self._db.queues.put(queue.id, queue)
        elif queue is not None and old is not None and queue.campaign_id == old:
            queue = dataclasses.replace(queue, campaign_id=campaign_id)
            self._db.queues.put(queue.id, queue)
        current = await self.queue_for(tenant_id, caller_id, answer_key)
        assert current is not None
        return current

    async def queues(self, tenant_id: int | None) -> list[int]:
        found = sorted(self._db.queues.rows(), key=lambda q: q.id)
        return [q.campaign_id for q in found if tenant_id in (None, q.tenant_id)]

    async def reopen(self, campaign_id: int, now: datetime) -> bool:
        # Deliberately outside the campaign transition table: only API queues are reopened
        # (see dialer.services.adhoc_calls), never an operator's campaign.
        row = self._db.campaigns.get(campaign_id)
        if row is None or row.status is not CampaignStatus.COMPLETED:
            return False
        running = dataclasses.replace(
            row, status=CampaignStatus.RUNNING, version=row.version + 1, updated_at=now
        )
        self._db.campaigns.put(campaign_id, running)
        return True

    async def stranded(self, campaign_ids: Sequence[int]) -> list[int]:
        return [
            cid
            for cid in dict.fromkeys(campaign_ids)
            if (row := self._db.campaigns.get(cid)) is not None
            and row.status is CampaignStatus.COMPLETED
            and self._has_due_leads(cid)
        ]

    async def route(self, campaign_id: int) -> CampaignRoute:
        row = self._row(campaign_id)
        tenant = self._db.tenants.get(row.tenant_id)
        if tenant is None:  # the SQL store's join finds no row either
            raise NotFound(f"campaign {campaign_id} does not exist")
        return CampaignRoute(tenant.name, row.settings.name, row.settings.priority)

    def _has_due_leads(self, campaign_id: int) -> bool:
        return any(lead.is_due for lead in self._db.leads.group("campaign", campaign_id))

    def _row(self, campaign_id: int) -> CampaignRow:
        row = self._db.campaigns.get(campaign_id)
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return row

    def _current(self, campaign: Campaign) -> CampaignRow:
        """The stored row, if the caller's copy is of its version; else Conflict."""
        row = self._db.campaigns.get(campaign.id)
        if row is None or row.version != campaign.version:
            raise Conflict(f"campaign {campaign.id} was changed by someone else; reload it")
        return row
