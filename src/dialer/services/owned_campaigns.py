"""Campaigns as one tenant sees them: every read and write checks the campaign is theirs.

Another tenant's campaign is answered exactly like one that does not exist."""

from __future__ import annotations

from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.statuses import TERMINAL_CAMPAIGN, CampaignStatus
from dialer.errors import Conflict, NotFound
from dialer.ports import UnitOfWork
from dialer.services.campaigns import add_campaign, check_against_limits, move_campaign
from dialer.services.context import Services

# The state each action starts from; cancel accepts any state the table allows.
ACTIONS: dict[str, tuple[frozenset[CampaignStatus] | None, CampaignStatus]] = {
    "start": (frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING),
    "pause": (frozenset({CampaignStatus.RUNNING}), CampaignStatus.PAUSED),
    "resume": (frozenset({CampaignStatus.PAUSED}), CampaignStatus.RUNNING),
    "cancel": (None, CampaignStatus.CANCELLED),
}


async def owned_campaign(uow: UnitOfWork, tenant_id: int, campaign_id: int) -> Campaign:
    try:
        campaign = await uow.campaigns.get(campaign_id)
    except NotFound:
        campaign = None
    if campaign is None or campaign.tenant_id != tenant_id:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


async def create(
    uow: UnitOfWork, services: Services, tenant_id: int, settings: CampaignSettings
) -> Campaign:
    return await add_campaign(uow, services, tenant_id, settings)


async def get(services: Services, tenant_id: int, campaign_id: int) -> Campaign:
    async with services.store.unit() as uow:
        return await owned_campaign(uow, tenant_id, campaign_id)


async def page(services: Services, tenant_id: int, after_id: int, limit: int) -> list[Campaign]:
    async with services.store.unit() as uow:
        return await uow.campaigns.of_tenant(tenant_id, after_id, limit)


async def update_settings(
    services: Services,
    tenant_id: int,
    campaign_id: int,
    expected_version: int,
    settings: CampaignSettings,
) -> Campaign:
    """Replace the settings if the caller saw the current version (optimistic concurrency);
    a running campaign's dispatcher picks them up on its next tick."""
    check_against_limits(settings, services)
    async with services.store.unit() as uow:
        campaign = await owned_campaign(uow, tenant_id, campaign_id)
        if campaign.version != expected_version:
            raise Conflict(
                f"campaign {campaign_id} is at version {campaign.version}, not "
                f"{expected_version}: reload it and apply the change again"
            )
        if campaign.status in TERMINAL_CAMPAIGN:
            raise Conflict(f"campaign {campaign_id} is {campaign.status}; it cannot be changed")
        await uow.campaigns.save_settings(campaign, settings, services.clock.now())
        await uow.commit()
    return campaign


async def act(services: Services, tenant_id: int, campaign_id: int, action: str) -> Campaign:
    """start, pause, resume or cancel: an atomic transition; an illegal one is a Conflict
    naming the campaign's current state."""
    sources, target = ACTIONS[action]
    async with services.store.unit() as uow:
        campaign = await owned_campaign(uow, tenant_id, campaign_id)
    if sources is not None and campaign.status not in sources:
        expected = " or ".join(sorted(sources))
        raise Conflict(f"campaign {campaign_id} is {campaign.status}; {action} needs {expected}")
    return await move_campaign(services, campaign_id, target)
