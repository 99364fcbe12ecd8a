"""Campaign use cases: create, start, pause, resume, cancel."""

from __future__ import annotations

import logging

from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.statuses import DUE_LEAD, CampaignStatus, LeadStatus, lead_moves
from dialer.domain.urls import internal_host_reason
from dialer.errors import InvalidInput, Problem
from dialer.ports import UnitOfWork
from dialer.services.context import Limits, Services
from dialer.settings import LEASE_MARGIN_SECONDS

log = logging.getLogger(__name__)


def check_against_limits(settings: CampaignSettings, services: Services) -> None:
    """Every deployment limit a campaign's settings must respect: checked by the one path that
    creates or changes a campaign, whoever asks (the API, ``dialer run``, the demo)."""
    limits = services.limits
    _check_lease(settings, limits)
    _check_cap(settings, limits)
    _check_answer_url(settings, limits)
    _check_voicemail(settings, services)


def _check_lease(settings: CampaignSettings, limits: Limits) -> None:
    """A lease must outlive the longest possible call, or capacity could be handed out twice."""
    longest = settings.ring_timeout + settings.max_call_duration + LEASE_MARGIN_SECONDS
    if longest > limits.lease_ttl:
        raise InvalidInput(
            Problem(
                "max_call_duration",
                f"ring_timeout + max_call_duration + {LEASE_MARGIN_SECONDS}s margin = {longest}s "
                f"exceeds the lease of {limits.lease_ttl}s (DIALER_LEASE_TTL_SECONDS)",
            )
        )


def _check_cap(settings: CampaignSettings, limits: Limits) -> None:
    cap = settings.max_concurrency
    if limits.campaign_max is not None and cap > limits.campaign_max:
        raise InvalidInput(
            Problem(
                "max_concurrency",
                f"{cap} is above the largest campaign cap {limits.campaign_max} "
                "(DIALER_CAMPAIGN_MAX_CONCURRENCY)",
            )
        )
    if cap > limits.global_max:
        raise InvalidInput(
            Problem("max_concurrency", f"{cap} is above the global cap {limits.global_max}")
        )


def _check_answer_url(settings: CampaignSettings, limits: Limits) -> None:
    problem = answer_url_problem(settings.answer_url, limits)
    if problem is not None:
        raise InvalidInput(problem)


def _check_voicemail(settings: CampaignSettings, services: Services) -> None:
    """A voicemail needs a provider Dialer can leave one through, and a recording's URL is
    fetched by the provider as an answer URL is."""
    detection = settings.machine_detection
    voicemail = detection.voicemail if detection else None
    if voicemail is None:
        return
    telephony = services.telephony
    if not telephony.leaves_voicemail:
        reason = f"the {telephony.name} provider cannot leave one through Dialer (Twilio can)"
        raise InvalidInput(Problem("machine_detection.voicemail", reason))
    where = "machine_detection.voicemail.url"
    if problem := answer_url_problem(voicemail.url, services.limits, where):
        raise InvalidInput(problem)


def answer_url_problem(
    answer_url: str | None, limits: Limits, location: str = "answer_url"
) -> Problem | None:
    """Why the provider must not be sent to ``answer_url`` (an internal host), if it must not:
    for campaigns and for calls outside campaigns alike."""
    if answer_url is None or limits.allow_private_answer_urls:
        return None
    reason = internal_host_reason(answer_url)
    if reason is None:
        return None
    return Problem(
        location,
        f"{reason}; the provider must not be sent there "
        "(DIALER_ALLOW_PRIVATE_ANSWER_URLS=true allows it)",
    )


async def add_campaign(
    uow: UnitOfWork, services: Services, tenant_id: int, settings: CampaignSettings
) -> Campaign:
    """Check every limit, then add the campaign (a DRAFT) in the caller's transaction."""
    check_against_limits(settings, services)
    return await uow.campaigns.add(tenant_id, settings, services.clock.now())


async def create_campaign(services: Services, tenant: str, settings: CampaignSettings) -> Campaign:
    async with services.store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        campaign = await add_campaign(uow, services, tenant_id, settings)
        await uow.commit()
    return campaign


async def move_campaign(
    services: Services, campaign_id: int, target: CampaignStatus, reason: str | None = None
) -> Campaign:
    """An atomic state change: a concurrent change makes it fail with Conflict, not overwrite.
    ``reason``: why Dialer itself moved it (its event says so)."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
        previous = campaign.status
        campaign.move_to(target)
        await uow.campaigns.save_status(campaign, now)
        await services.outbox.campaign_changed(uow, campaign, previous, now, reason)
        if target is CampaignStatus.CANCELLED:
            # Leads with a call in flight are cancelled when that call ends.
            waiting = lead_moves(DUE_LEAD, LeadStatus.CANCELLED)
            cancelled = await uow.leads.move_all(campaign_id, waiting, LeadStatus.CANCELLED, now)
            log.info("campaign %s cancelled; %d waiting leads cancelled", campaign_id, cancelled)
            if campaign.settings.steps:
                unsent = await uow.messages.cancel_campaign(campaign_id, now)
                log.info("campaign %s cancelled; %d messages not sent", campaign_id, unsent)
        await uow.commit()
    return campaign


async def start_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.RUNNING)


async def pause_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.PAUSED)


async def cancel_campaign(services: Services, campaign_id: int) -> Campaign:
    return await move_campaign(services, campaign_id, CampaignStatus.CANCELLED)
