"""Campaigns: settings, status (versioned), API call queues and the routing of their jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from dialer.adapters.store import rows
from dialer.adapters.store.api_tables import (
    api_queues,
)
from dialer.adapters.store.base import SqlRepository
from dialer.adapters.store.tables import (
    campaigns,
    leads,
    tenants,
)
from dialer.campaign_document import settings_to_mapping
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.statuses import (
    CampaignStatus,
)
from dialer.errors import Conflict, NotFound
from dialer.ports import (
    CampaignRoute,
)


class SqlCampaigns(SqlRepository):
    async def add(self, tenant_id: int, settings: CampaignSettings, now: datetime) -> Campaign:
        stmt = (
            campaigns.insert()
            .values(
                tenant_id=tenant_id,
                name=settings.name,
                status=CampaignStatus.DRAFT.value,
                priority=settings.priority,
                settings=settings_to_mapping(settings),
                version=1,
                created_at=now,
                updated_at=now,
            )
            .returning(campaigns.c.id)
        )
        new_id = int((await self._conn.execute(stmt)).scalar_one())
        return Campaign(new_id, tenant_id, settings, CampaignStatus.DRAFT, 1, now, now)

    async def get(self, campaign_id: int) -> Campaign:
        row = (
            await self._conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))
        ).first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return rows.campaign(row)

    async def in_status(self, statuses: Sequence[CampaignStatus]) -> list[Campaign]:
        stmt = (
            select(campaigns)
            .where(campaigns.c.status.in_([s.value for s in statuses]))
            .order_by(campaigns.c.priority.desc(), campaigns.c.id)
        )
        return [rows.campaign(row) for row in await self._conn.execute(stmt)]

    async def save_status(self, campaign: Campaign, now: datetime) -> None:
        stmt = (
            update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.version == campaign.version)
            .values(status=campaign.status.value, version=campaign.version + 1, updated_at=now)
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise Conflict(f"campaign {campaign.id} was changed by someone else; reload it")
        campaign.version += 1
        campaign.updated_at = now

    async def of_tenant(self, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
        stmt = (
            select(campaigns)
            .where(campaigns.c.tenant_id == tenant_id, campaigns.c.id > after_id)
            .order_by(campaigns.c.id)
            .limit(limit)
        )
        return [rows.campaign(row) for row in await self._conn.execute(stmt)]

    async def save_settings(
        self, campaign: Campaign, settings: CampaignSettings, now: datetime
    ) -> None:
        stmt = (
            update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.version == campaign.version)
            .values(
                name=settings.name,
                priority=settings.priority,
                settings=settings_to_mapping(settings),
                version=campaign.version + 1,
                updated_at=now,
            )
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise Conflict(f"campaign {campaign.id} was changed by someone else; reload it")
        campaign.settings = settings
        campaign.version += 1

    async def queue_for(self, tenant_id: int, caller_id: str, answer_key: str) -> int | None:
        q = api_queues.c
        found = await self._conn.scalar(
            select(q.campaign_id).where(
                q.tenant_id == tenant_id, q.caller_id == caller_id, q.answer_key == answer_key
            )
        )
        return None if found is None else int(found)

    async def set_queue(
        self, tenant_id: int, caller_id: str, answer_key: str, campaign_id: int, old: int | None
    ) -> int:
        q = api_queues.c
        if old is None:
            stmt = (
                self._insert(api_queues)
                .values(
                    tenant_id=tenant_id,
                    caller_id=caller_id,
                    answer_key=answer_key,
                    campaign_id=campaign_id,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "caller_id", "answer_key"])
            )
        else:
            stmt = (
                update(api_queues)
                .where(
                    q.tenant_id == tenant_id,
                    q.caller_id == caller_id,
                    q.answer_key == answer_key,
                    q.campaign_id == old,
                )
                .values(campaign_id=campaign_id)
            )
        await self._conn.execute(stmt)
        current = await self.queue_for(tenant_id, caller_id, answer_key)
        assert current is not None
        return current

    async def queues(self, tenant_id: int | None) -> list[int]:
        stmt = select(api_queues.c.campaign_id).order_by(api_queues.c.id)
        if tenant_id is not None:
            stmt = stmt.where(api_queues.c.tenant_id == tenant_id)
        return [int(i) for i in (await self._conn.scalars(stmt)).all()]

    async def reopen(self, campaign_id: int, now: datetime) -> bool:
        # Deliberately outside the campaign transition table: only API queues are reopened
        # (see dialer.services.adhoc_calls), never an operator's campaign.
        stmt = (
            update(campaigns)
            .where(
                campaigns.c.id == campaign_id,
                campaigns.c.status == CampaignStatus.COMPLETED.value,
            )
            .values(
                status=CampaignStatus.RUNNING.value,
                version=campaigns.c.version + 1,
                updated_at=now,
            )
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def stranded(self, campaign_ids: Sequence[int]) -> list[int]:
        if not campaign_ids:
            return []
        has_due = (
            select(leads.c.id)
            .where(leads.c.campaign_id == campaigns.c.id, leads.c.status.in_(rows.DUE))
            .exists()
        )
        stmt = select(campaigns.c.id).where(
            campaigns.c.id.in_(list(campaign_ids)),
            campaigns.c.status == CampaignStatus.COMPLETED.value,
            has_due,
        )
        return [int(i) for i in (await self._conn.scalars(stmt)).all()]

    async def route(self, campaign_id: int) -> CampaignRoute:
        stmt = (
            select(campaigns.c.name, campaigns.c.priority, tenants.c.name.label("tenant"))
            .join(tenants, tenants.c.id == campaigns.c.tenant_id)
            .where(campaigns.c.id == campaign_id)
        )
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return CampaignRoute(row.tenant, row.name, row.priority)
