"""The pre-dial hook, asked for each call of a campaign that has one: after admission (the
call's capacity, its number's lock and its rate slot are held) and before the sent marker and
the provider's create.

The request is signed per Standard Webhooks with the secret of the tenant's webhook endpoint
at the hook's URL (``dialer webhook-endpoints add``; a rotation's overlap applies). Its
``webhook-id`` is the attempt's: a job delivered twice asks twice with the same id, and only
one of the two sends. Whatever the answer, the admission lease is used (the call is sent) or
released (the lead skipped or due again, its attempts unspent): ``calls.withdraw`` and
``skip_lead`` take the sent marker first, so no other delivery of the job sends it meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta

from dialer import metrics
from dialer.domain.model import Campaign, Contact, Lead
from dialer.domain.phone import mask
from dialer.domain.pre_dial import (
    Action,
    HookFailed,
    OnError,
    PreDialHook,
    Verdict,
    read_verdict,
    with_parameters,
)
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.domain.webhooks import EVENT_VERSION, PRE_DIAL, signature_header
from dialer.ports import Origination, UnitOfWork
from dialer.ports.webhook_sender import WebhookUnreachable
from dialer.ports.webhook_store import Endpoint
from dialer.services.calls import release_quietly, withdraw
from dialer.services.context import Services

log = logging.getLogger(__name__)

CONTEXT_TTL = 2.0  # seconds a campaign's settings and its tenant's endpoints are kept
RETRY_AFTER_FAILURE = 60.0  # seconds before a lead whose hook failed (on_error: retry) is due
SKIPPED_BY_HOOK = "pre_dial_cancelled"  # the outcome recorded on a lead the hook cancelled
SKIPPED_ON_ERROR = "pre_dial_failed"  # ... and on one skipped because the hook failed


async def ask_hook(services: Services, job: Origination) -> Origination | None:
    """The job to send, as the hook's answer changed it; None when the answer (or the hook's
    failure, by ``on_error``) means no call now: the lead was skipped or is due again, and the
    lease was released."""
    hook = job.pre_dial
    assert hook is not None
    verdict, failed = await _verdict(services, job, hook)
    if verdict.action is Action.CANCEL:
        outcome = SKIPPED_ON_ERROR if failed else SKIPPED_BY_HOOK
        await skip_lead(services, job, f"pre-dial hook: {verdict.reason}", outcome)
        return None
    if verdict.action is Action.DEFER:
        assert verdict.defer_until is not None
        wait = (verdict.defer_until - services.clock.now()).total_seconds()
        why = f" ({verdict.reason})" if verdict.reason else ""
        cause = f"not sent: the pre-dial hook deferred it{why}"
        await withdraw(services, job, cause, max(wait, 0.001))
        return None
    return await _with_answer(services, job, verdict)


async def _verdict(services: Services, job: Origination, hook: PreDialHook) -> tuple[Verdict, bool]:
    """The hook's verdict, or the one ``on_error`` stands for when it gave none (True)."""
    started = time.perf_counter()
    metrics.pre_dial_in_flight.inc()
    try:
        async with asyncio.timeout(hook.timeout):
            verdict = await _consult(services, job, hook)
        outcome, failed = verdict.action.value, False
    except (HookFailed, WebhookUnreachable, TimeoutError) as exc:
        cause = str(exc) or f"no answer within {hook.timeout:g} s"
        to = mask(job.request.to)
        log.warning("attempt %s to %s: pre-dial hook failed (%s)", job.attempt_id, to, cause)
        verdict, outcome, failed = _on_error(services, hook, cause), "error", True
    finally:
        metrics.pre_dial_in_flight.dec()
    metrics.pre_dial_seconds.labels(outcome).observe(time.perf_counter() - started)
    return verdict, failed


def _on_error(services: Services, hook: PreDialHook, cause: str) -> Verdict:
    if hook.on_error is OnError.PROCEED:
        return Verdict(Action.PROCEED)
    if hook.on_error is OnError.RETRY:
        until = services.clock.now() + timedelta(seconds=RETRY_AFTER_FAILURE)
        return Verdict(Action.DEFER, reason=f"failed ({cause})", defer_until=until)
    return Verdict(Action.CANCEL, reason=f"failed ({cause})")


async def _consult(services: Services, job: Origination, hook: PreDialHook) -> Verdict:
    if services.hooks is None:
        raise HookFailed("no hook sender is set up")
    async with services.store.unit() as uow:
        lead = await uow.leads.get(job.lead_id)
        contact = await uow.contacts.get(lead.contact_id)
        campaign, endpoints = await _campaign_and_endpoints(services, uow, job)
    now = services.clock.now()
    secrets = next((e.secrets(now) for e in endpoints if _answers_hook(e, hook.url)), None)
    if secrets is None:
        raise HookFailed(f"no enabled webhook endpoint of the tenant at this URL has {PRE_DIAL}")
    message_id = f"pre_dial_{job.attempt_id}"
    body = _body(job, lead, contact, campaign, message_id, now)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "Dialer-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, message_id, timestamp, body),
    }
    answer = await services.hooks.post(hook.url, headers, body)
    settings = campaign.settings
    caller_ids = frozenset({settings.caller_id, *settings.caller_ids})
    return read_verdict(answer.status_code, answer.body, now, caller_ids)


async def _campaign_and_endpoints(
    services: Services, uow: UnitOfWork, job: Origination
) -> tuple[Campaign, list[Endpoint]]:
    """The job's campaign and its tenant's endpoints, read again every CONTEXT_TTL seconds:
    every call of a campaign asks the same hook, and one read per call would be most of the
    hook's database cost. A changed setting or a rotated secret applies within that time."""
    cached = services.hook_context.get(job.campaign_id)
    if cached is not None and time.monotonic() - cached[0] < CONTEXT_TTL:
        return cached[1], cached[2]
    campaign = await uow.campaigns.get(job.campaign_id)
    endpoints = await uow.webhooks.endpoints(job.tenant_id)
    services.hook_context[job.campaign_id] = (time.monotonic(), campaign, endpoints)
    return campaign, endpoints


def _answers_hook(endpoint: Endpoint, url: str) -> bool:
    return endpoint.enabled and endpoint.url == url and PRE_DIAL in endpoint.events


def _body(
    job: Origination,
    lead: Lead,
    contact: Contact,
    campaign: Campaign,
    message_id: str,
    now: datetime,
) -> bytes:
    data = {
        "attempt_id": job.attempt_id,
        "lead_id": job.lead_id,
        "campaign_id": job.campaign_id,
        "campaign_name": campaign.settings.name,
        "attempt_number": lead.attempts,
        "to": job.request.to,
        "from": job.request.from_,
        "contact": {
            "id": contact.id,
            "name": contact.name,
            "tags": list(contact.tags),
            "attributes": contact.attributes,
        },
    }
    payload = {
        "id": message_id,
        "type": PRE_DIAL,
        "version": EVENT_VERSION,
        "timestamp": now.isoformat(),
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


async def _with_answer(services: Services, job: Origination, verdict: Verdict) -> Origination:
    """The job with the answer's per-call parameters: its answer URL, query parameters for
    the voice bot, a caller id (recorded on the attempt too)."""
    request = job.request
    answer_url = verdict.answer_url or request.answer_url
    if answer_url is not None:
        answer_url = with_parameters(answer_url, verdict.parameters)
    caller_id = verdict.caller_id or request.from_
    if caller_id != request.from_:
        async with services.store.unit() as uow:
            attempt = await uow.attempts.get(job.attempt_id, lock=True)
            if attempt is not None and attempt.status is AttemptStatus.QUEUED:
                attempt.caller_id = caller_id
                await uow.attempts.save(attempt)
                await uow.commit()
    return replace(job, request=replace(request, answer_url=answer_url, from_=caller_id))


async def skip_lead(services: Services, job: Origination, cause: str, outcome: str) -> bool:
    """The attempt is void and its lead skipped (not called, its attempts unspent), the lease
    released. Exclusive by the sent marker; False when the job had been sent or had ended."""
    if not await services.writes.mark_sending(job.attempt_id):
        return False
    now = services.clock.now()
    async with services.store.unit() as uow:
        attempt = await uow.attempts.get(job.attempt_id, lock=True)
        if attempt is None or attempt.status is not AttemptStatus.QUEUED:
            return False
        attempt.status, attempt.hangup_cause, attempt.ended_at = (
            AttemptStatus.CANCELED,
            cause[:300],
            now,
        )
        await uow.attempts.save(attempt)
        await services.outbox.attempt_ended(uow, attempt, now)
        lead = await uow.leads.get(job.lead_id, lock=True)
        if lead.last_attempt_id == attempt.id and lead.status is LeadStatus.DIALING:
            await _skip(services, uow, lead, job.campaign_id, outcome, now)
        await uow.commit()
    await release_quietly(services, attempt)
    log.info("attempt %s to %s not sent (%s)", job.attempt_id, mask(job.request.to), cause)
    return True


async def _skip(
    services: Services, uow: UnitOfWork, lead: Lead, campaign_id: int, outcome: str, now: datetime
) -> None:
    lead.attempts -= 1
    lead.move_to(LeadStatus.PENDING if lead.attempts == 0 else LeadStatus.WAITING_RETRY)
    lead.move_to(LeadStatus.SKIPPED)
    lead.next_attempt_at = None
    await uow.leads.save(lead, outcome, now)
    campaign = await uow.campaigns.get(campaign_id)
    await services.outbox.lead_finished(uow, campaign, lead, outcome, now)
