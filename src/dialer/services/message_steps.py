"""A lead's walk through its campaign's message steps, after its call step has ended.

Each step is decided in the transaction that ends the step before it (the lead's final call
outcome, or the settling of its previous message), so a crash between the two can neither
lose the next step nor take it twice (a lead has at most one message per step)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from dialer.domain.channels import Channel, MessageStep, call_outcome, next_step
from dialer.domain.messages import NewMessage
from dialer.domain.model import Campaign, Lead
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.domain.templates import MessageTemplate
from dialer.ports import UnitOfWork
from dialer.services.context import Services

log = logging.getLogger(__name__)

# The call outcomes after which a lead's message steps are considered: it was called and the
# call step is over. A skipped lead (do-not-call, no window) or a cancelled one gets none.
CALLED_TO_THE_END = frozenset({LeadStatus.DONE, LeadStatus.FAILED, LeadStatus.EXHAUSTED})
EMAIL_ATTRIBUTE = "email"
UNREACHABLE_OUTCOME = "unreachable: the voice provider could not be used"


async def after_call(
    services: Services,
    uow: UnitOfWork,
    campaign: Campaign,
    lead: Lead,
    last_attempt: AttemptStatus,
) -> None:
    """Queue the lead's first message step that its call outcome calls for, if any."""
    if campaign.settings.steps and lead.status in CALLED_TO_THE_END:
        outcomes = (call_outcome(last_attempt),)
        await queue_next(services, uow, campaign, lead, after=0, outcomes=outcomes)


def falls_back_when_unreachable(campaign: Campaign) -> bool:
    return any("unreachable" in step.when for step in campaign.settings.steps)


async def divert_unreachable(
    services: Services, campaign: Campaign, zone_keys: Sequence[str], limit: int
) -> int:
    """While the voice provider cannot be used (its breaker is open), the campaign's due
    leads take the step meant for that case (an SMS instead of the call) rather than wait;
    each is marked SKIPPED for the call with the reason. Returns how many were diverted."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        leads = await uow.leads.claim_due(campaign.id, list(zone_keys), now, limit)
        if not leads:
            return 0
        await uow.leads.skip([lead.id for lead in leads], UNREACHABLE_OUTCOME, now)
        await services.outbox.leads_skipped(uow, campaign, leads, UNREACHABLE_OUTCOME, now)
        for lead in leads:
            await queue_next(services, uow, campaign, lead, after=0, outcomes=("unreachable",))
        await uow.commit()
    log.info("campaign %s: %d leads took their fallback step", campaign.id, len(leads))
    return len(leads)


async def queue_next(
    services: Services,
    uow: UnitOfWork,
    campaign: Campaign,
    lead: Lead,
    *,
    after: int,
    outcomes: tuple[str, ...],
) -> bool:
    """Record the message of the first step after ``after`` that runs on ``outcomes``; False
    when no step is left for the lead."""
    steps = campaign.settings.steps
    number = next_step(steps, after, outcomes)
    if number is None:
        return False
    step = steps[number - 1]
    to = lead.phone
    if step.channel is Channel.EMAIL:
        contact = await uow.contacts.get(lead.contact_id)
        to = contact.attributes.get(EMAIL_ATTRIBUTE, "")
    sender = step.sender or campaign.settings.caller_id
    message = NewMessage(
        tenant_id=campaign.tenant_id,
        campaign_id=campaign.id,
        lead_id=lead.id,
        step=number,
        channel=step.channel,
        to=to,
        sender=sender,
        due_at=services.clock.now() + timedelta(seconds=step.after),
        zone_key=lead.zone_key,
        outcomes=outcomes,
        token=secrets.token_urlsafe(24),
    )
    await uow.messages.add([message], services.clock.now())
    log.debug("lead %s: step %d (%s) queued", lead.id, number, step.channel)
    return True


def template_names(steps: Sequence[MessageStep]) -> frozenset[str]:
    """Every contact field or attribute the steps' templates read (``name`` among them)."""
    sources = [
        (source, html)
        for step in steps
        for source, html in ((step.body, False), (step.subject, False), (step.html, True))
        if source
    ]
    return frozenset().union(*(MessageTemplate.parse(s, html=h).names for s, h in sources))
