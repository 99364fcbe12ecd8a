"""What happens to an attempt after admission: origination and its ending on our own word.
(Provider events are ``provider_events``.)

Every change is committed before admission hears of it; the admission lease is released
after the commit (a release that is lost is reclaimed by lease expiry, never by guessing)."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import timedelta

from dialer import metrics
from dialer.domain.model import CallAttempt, Campaign, CampaignSettings, Lead
from dialer.domain.phone import mask, zones_of_key
from dialer.domain.retry import decide_after_attempt
from dialer.domain.statuses import (
    AttemptStatus,
    CampaignStatus,
    LeadStatus,
)
from dialer.errors import (
    DialerError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.observability import logs
from dialer.observability.scope import attempt_scope
from dialer.observability.tracing import Span, SpanKind
from dialer.ports import Lease, Origination, UnitOfWork
from dialer.services import message_steps
from dialer.services.answer_times import best_retry
from dialer.services.budgets import settle_quietly
from dialer.services.context import Services
from dialer.services.send_slots import keep_slot

log = logging.getLogger(__name__)

NOT_SENT_BACKOFF = timedelta(seconds=5)
# The longest a call waits for its send slot. Admission already paced the calls, so a slot is
# only as far off as the broker and workers bunched them (well under a second); a wait this
# long means the limiters' state went astray: the call is put back rather than held.
MAX_SEND_WAIT = 10.0


async def release_quietly(services: Services, attempt: CallAttempt) -> None:
    """Give the attempt's lease back after its ending is committed. If admission cannot be
    reached now, the ending stands: the lease expires, and the reconciler drops it sooner."""
    try:
        await services.admission.release(lease_of(attempt))
    except DialerError as exc:
        log.warning("attempt %s: lease not released now (%s); it will expire", attempt.id, exc)
    # A call the provider never took costs nothing; one that may have been made, its worst.
    never_sent = attempt.provider_call_id is None and attempt.status is not AttemptStatus.UNKNOWN
    await settle_quietly(services, [(attempt.lease_id, 0 if never_sent else None)])


def lease_of(attempt: CallAttempt, expires_at: float = 0.0) -> Lease:
    return Lease(
        attempt.lease_id, attempt.tenant_id, attempt.campaign_id, attempt.phone, expires_at
    )


# ------------------------------------------------------------------ endings


async def finish_attempt(services: Services, uow: UnitOfWork, attempt: CallAttempt) -> None:
    """Decide the lead's next state now that ``attempt`` has ended."""
    lead = await uow.leads.get(attempt.lead_id, lock=True)
    campaign = await uow.campaigns.get(attempt.campaign_id)
    await finish_with(services, uow, attempt, lead, campaign)


async def finish_with(
    services: Services, uow: UnitOfWork, attempt: CallAttempt, lead: Lead, campaign: Campaign
) -> None:
    """``finish_attempt`` with the lead (read under its lock) and campaign already in hand.
    The attempt's end, and the lead's if this was its last, are written to the outbox in the
    same transaction."""
    now = services.clock.now()
    await services.outbox.attempt_ended(uow, attempt, now)
    if lead.last_attempt_id != attempt.id or lead.status not in {
        LeadStatus.DIALING,
        LeadStatus.WAITING_RETRY,
    }:
        return
    if campaign.status is CampaignStatus.CANCELLED:
        lead.move_to(LeadStatus.CANCELLED)
        lead.next_attempt_at = None
    else:
        decide_lead(services, lead, attempt, campaign.settings)
        await _at_the_best_time(services, uow, campaign, lead)
        await message_steps.after_call(services, uow, campaign, lead, attempt.status)
    await uow.leads.save(lead, attempt.status.value, now)
    await services.outbox.lead_finished(uow, campaign, lead, attempt.status.value, now)


async def _at_the_best_time(
    services: Services, uow: UnitOfWork, campaign: Campaign, lead: Lead
) -> None:
    """Move a retry to the hour its contact most likely answers, unless the policy opts out."""
    retry = lead.next_attempt_at
    if lead.status is not LeadStatus.WAITING_RETRY or retry is None:
        return
    if campaign.settings.retry.best_time:
        best = await best_retry(uow, services.answer_levels, campaign, lead, retry)
        lead.next_attempt_at = best or retry


def decide_lead(
    services: Services, lead: Lead, attempt: CallAttempt, settings: CampaignSettings
) -> None:
    """Apply the retry policy, then move a retry into the contact's next calling window."""
    ended = services.clock.now()
    decision = decide_after_attempt(
        settings.retry, attempt.status, lead.attempts, ended, services.rng
    )
    status, next_at = decision.status, None
    if decision.not_before is not None:
        zones = zones_of_key(lead.zone_key)
        next_at = lead.window(settings.window).next_open(decision.not_before, zones)
        if next_at is None:  # the window never opens again: no retry can be made
            status = LeadStatus.EXHAUSTED
    lead.move_to(status)
    lead.next_attempt_at = next_at


async def end_attempt(
    services: Services, attempt_id: int, status: AttemptStatus, cause: str
) -> bool:
    """End a live attempt on our own word (provider refusal, unknown outcome). False when it
    had already ended."""
    async with services.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id, lock=True)
        if attempt is None or attempt.is_terminal:
            return False
        attempt.status, attempt.hangup_cause = status, cause
        attempt.ended_at = services.clock.now()
        await uow.attempts.save(attempt)
        await finish_attempt(services, uow, attempt)
        await uow.commit()
    await release_quietly(services, attempt)
    return True


# ------------------------------------------------------------------ origination


async def originate(services: Services, job: Origination) -> None:
    """Send one admitted attempt to the provider, at most once.

    The sent marker is committed before the request: a job delivered twice (a worker that
    died mid-request, a redelivered task) finds it set and sends nothing; callbacks, a
    provider lookup or the reaper settle that attempt instead."""
    with _origination_scope(services, job) as span:  # logs and traces
        call_id = await _originate(services, job)
        span.set_attribute("dialer.call_sid", call_id)
        log.debug("originated: %s", f"call {call_id}" if call_id else "no call created")


def _origination_scope(services: Services, job: Origination) -> AbstractContextManager[Span]:
    fields = logs.attempt_fields(job.attempt_id, job.lead_id, job.campaign_id)
    attributes = {"dialer.provider": services.telephony.name, "dialer.to": mask(job.request.to)}
    return attempt_scope(
        "originate call",
        fields,
        kind=SpanKind.CLIENT,
        parent=job.traceparent,
        attributes=attributes,
    )


async def _originate(services: Services, job: Origination) -> str | None:
    """The provider's call id, when it accepted the call."""
    if not await services.writes.mark_sending(job.attempt_id):
        log.warning("attempt %s was sent before; not sending it again", job.attempt_id)
        return None
    if not await _wait_for_send_slot(services, job):
        return None
    try:
        call_id = await services.telephony.create_call(job.request)
    except (ProviderThrottled, ProviderUnavailable) as exc:
        retry_after = getattr(exc, "retry_after", None)
        await put_back_unsent(services, job, f"not sent: {exc}", retry_after)
    except ProviderRejected as exc:
        await end_attempt(services, job.attempt_id, AttemptStatus.FAILED, f"rejected: {exc}")
    except ProviderOutcomeUnknown as exc:
        await adopt_lost_call(services, job, str(exc))
    else:
        await mark_accepted(services, job.attempt_id, call_id)
        return call_id
    return None


async def _wait_for_send_slot(services: Services, job: Origination) -> bool:
    """Wait until the job's rate limiters allow its send. Admission paced the calls at the
    dispatcher; the broker and the workers delay them unevenly, and without this a batch held
    up behind a slow one would reach the provider together with the next.

    After the sent marker, right before the request: the marker's commit is shared with the
    other jobs of its batch (group commit) and takes a varying time, so a slot taken before
    it would no longer space the requests. The job holds the marker meanwhile; one that dies
    while waiting (at most MAX_SEND_WAIT) left an attempt that was never sent, which the
    reaper settles by asking the provider. False (the job has been put back, its lead due
    again with its attempts unspent) when the slot is too far off or admission did not
    answer."""
    if job.scope is None:
        return True  # queued before sends were spaced
    try:
        slot = await services.admission.reserve_send(job.scope, MAX_SEND_WAIT)
    except DialerError as exc:
        await put_back_unsent(services, job, f"not sent: no send slot ({exc})", None)
        return False
    metrics.send_wait.observe(slot.wait)
    if not slot.reserved:
        log.warning("attempt %s: send slot %.1f s away; put back", job.attempt_id, slot.wait)
        cause = "not sent: its send slot was too far off"
        await put_back_unsent(services, job, cause, slot.wait)
        return False
    send_at = services.clock.now() + timedelta(seconds=slot.wait)
    put_back = await keep_slot(services, job.scope, send_at, MAX_SEND_WAIT)
    if put_back is not None:
        cause = "not sent: woken too late for its send slots"
        await put_back_unsent(services, job, cause, put_back or None)
        return False
    return True


async def withdraw(
    services: Services, job: Origination, cause: str, retry_after: float | None = None
) -> bool:
    """Take back a job nobody sent: the attempt is void, its lease released, and its lead due
    again with its attempts unspent. Taking the sent marker first makes this exclusive: a
    worker holding the same job later finds it set and sends nothing. False (nothing done)
    when the job had been sent, or its attempt had ended."""
    claimed = await services.writes.mark_sending(job.attempt_id)
    if claimed:
        await put_back_unsent(services, job, cause, retry_after)
    return claimed


async def mark_accepted(services: Services, attempt_id: int, call_id: str) -> None:
    """The provider created the call: its id is kept, a QUEUED attempt is INITIATED."""
    await services.writes.accept(attempt_id, call_id)


async def put_back_unsent(
    services: Services, job: Origination, cause: str, retry_after: float | None
) -> None:
    """The provider did not create the call: the attempt is void and the lead keeps its
    attempts. An outage must not burn contacts' attempts."""
    now = services.clock.now()
    delay = timedelta(seconds=retry_after) if retry_after else NOT_SENT_BACKOFF
    async with services.store.unit() as uow:
        attempt = await uow.attempts.get(job.attempt_id, lock=True)
        if attempt is None or attempt.status is not AttemptStatus.QUEUED:
            return  # a callback got there first: the call exists after all
        attempt.status, attempt.hangup_cause, attempt.ended_at = (
            AttemptStatus.CANCELED,
            cause,
            now,
        )
        await uow.attempts.save(attempt)
        lead = await uow.leads.get(job.lead_id, lock=True)
        if lead.last_attempt_id == attempt.id and lead.status is LeadStatus.DIALING:
            lead.attempts -= 1
            lead.move_to(LeadStatus.PENDING if lead.attempts == 0 else LeadStatus.WAITING_RETRY)
            lead.next_attempt_at = now + delay
            await uow.leads.save(lead, None, now)
        await uow.commit()
    await release_quietly(services, attempt)
    log.info("attempt %s to %s not sent (%s)", job.attempt_id, mask(job.request.to), cause)


async def adopt_lost_call(services: Services, job: Origination, cause: str) -> None:
    """The create may or may not have happened. Ask the provider; if it does not know either,
    leave the attempt live: its callbacks or the reaper will settle it. Never re-dial."""
    since = services.clock.now() - timedelta(minutes=5)
    try:
        call_id = await services.telephony.find_call(job.request, since)
    except (ProviderUnavailable, ProviderOutcomeUnknown, ProviderRejected, ProviderThrottled):
        call_id = None
    if call_id is not None:
        await mark_accepted(services, job.attempt_id, call_id)
    log.warning(
        "attempt %s: create answer lost (%s); %s",
        job.attempt_id,
        cause,
        f"found call {call_id}" if call_id else "left for callbacks or the reaper",
    )
