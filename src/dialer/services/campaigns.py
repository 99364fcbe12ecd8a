"""Campaign use cases: create, start, pause, resume, cancel."""

from __future__ import annotations

import logging

from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.statuses import DUE_LEAD, CampaignStatus, LeadStatus
from dialer.errors import InvalidInput, Problem
from dialer.services.context import Services
from dialer.settings import LEASE_MARGIN_SECONDS

log = logging.getLogger(__name__)


def check_against_limits(settings: CampaignSettings, services: Services) -> None:
    """A lease must outlive the longest possible call, or capacity could be handed out twice."""
    longest = settings.ring_timeout + settings.max_call_duration + LEASE_MARGIN_SECONDS
    if longest > services.limits.lease_ttl:
        raise InvalidInput(
            Problem(
                "max_call_duration",
                f"ring_timeout + max_call_duration + {LEASE_MARGIN_SECONDS}s margin = {longest}s "
                f"exceeds the lease of {services.limits.lease_ttl}s (DIALER_LEASE_TTL_SECONDS)",
            )
        )
    if settings.max_concurrency > services.limits.global_max:
        raise InvalidInput(
            Problem(
                "max_concurrency",
                f"{settings.max_concurrency} is above the global cap {services.limits.global_max}",
            )
        )


async def create_campaign(services: Services, tenant: str, settings: CampaignSettings) -> Campaign:
    check_against_limits(settings, services)
    async with services.store.unit() as uow:
        tenant_id = await uow.tenant_id(tenant)
        campaign = await uow.add_campaign(tenant_id, settings, services.clock.now())
        await uow.commit()
    return campaign


async def move_campaign(services: Services, campaign_id: int, target: CampaignStatus) -> Campaign:
    """An atomic state change: a concurrent change makes it fail with Conflict, not overwrite."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        campaign = await uow.get_campaign(campaign_id)
        campaign.move_to(target)
        await uow.save_campaign_status(campaign, now)
        if target is CampaignStatus.CANCELLED:
            # Leads with a call in flight are cancelled when that call ends.
            cancelled = await uow.set_lead_status(
                campaign_id, list(DUE_LEAD), LeadStatus.CANCELLED, now
            )
            log.info("campaign %s cancelled; %d waiting leads cancelled", campaign_id, cancelled)
        await uow.commit()
    return campaign


async def start_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.RUNNING)


async def pause_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.PAUSED)


async def cancel_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.CANCELLED)
