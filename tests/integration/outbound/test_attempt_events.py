"""A call's ``attempt.started`` and ``attempt.answered`` written where the attempt moves: with
our acceptance of the call, or with the provider's word when that came first, once each and
in the lead's sequence before its ``attempt.ended``; never for an acceptance that rolled back.
On SQLite and PostgreSQL, delivered to a real receiver."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dialer.bootstrap import Runtime
from dialer.domain.machines import AnsweredBy
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import AttemptStatus, CallProgress
from dialer.ports import ContactDraft, NewAttempt, ProviderEvent
from dialer.services import webhook_endpoints
from dialer.services.attempt_writes import accept_many
from dialer.services.provider_events import Delivery, apply_event, apply_events
from dialer.services.webhook_endpoints import EndpointChange, UrlRules
from tests.integration.outbound.conftest import deliverer
from tests.support.polling import until
from tests.support.webhook_receiver import Receiver

NY = "America/New_York"
CALL_EVENTS = ["attempt.started", "attempt.answered", "attempt.ended", "lead.finished"]


async def queued_attempt(runtime: Runtime, receiver: Receiver) -> int:
    """A lead's attempt, QUEUED (not yet accepted), of a tenant whose endpoint on the receiver
    subscribes to the call's events."""
    now = runtime.services.clock.now()
    async with runtime.store.unit() as uow:
        tenant_id = await uow.tenants.id_for("acme")
        campaign = await uow.campaigns.add(tenant_id, CampaignSettings("c", "+14155550100"), now)
        draft = ContactDraft(phone="+12125550001", zone_key=NY, name="c1")
        [contact_id] = await uow.contacts.upsert(tenant_id, [draft], now)
        await uow.leads.add(campaign, [(contact_id, draft)], now)
        [lead] = await uow.leads.claim_due(campaign.id, [NY], now, 1)
        expires = now + timedelta(minutes=10)
        new = NewAttempt(lead, f"lease-{lead.id}", expires, "+14155550100")
        [attempt] = await uow.attempts.start([new], now)
        await uow.commit()
    change = EndpointChange(receiver.url, CALL_EVENTS)
    rules = UrlRules(True, True)
    _, secret = await webhook_endpoints.add_endpoint(runtime.services, tenant_id, change, rules)
    receiver.secrets.append(secret)
    return attempt.id


async def delivered(runtime: Runtime, receiver: Receiver, n: int) -> list[Any]:
    """The first ``n`` events delivered (a lead's go one at a time, in its sequence)."""

    async def all_in() -> bool:
        await deliverer(runtime).run_once()
        return len(receiver.delivered()) >= n

    await until(all_in, 10, f"{n} events delivered")
    assert receiver.refused == []
    return receiver.delivered()


def event(call_id: str, progress: CallProgress, sequence: int, **more: Any) -> ProviderEvent:
    return ProviderEvent(call_id, progress, sequence=sequence, **more)


async def test_an_acceptance_that_rolls_back_announces_nothing(
    runtime: Runtime, receiver: Receiver
) -> None:
    attempt_id = await queued_attempt(runtime, receiver)
    services = runtime.services
    async with runtime.store.unit() as uow:
        await accept_many(uow, services.outbox, {attempt_id: "CA-1"}, services.clock.now())
        # no commit: the acceptance and its event go together
    assert await deliverer(runtime).run_once() == 0
    await services.writes.accept(attempt_id, "CA-1")
    [started] = await delivered(runtime, receiver, 1)
    assert (started["type"], started["sequence"]) == ("attempt.started", 1)
    assert started["data"]["attempt_id"] == attempt_id
    assert started["data"]["provider_call_id"] == "CA-1"
    assert started["data"]["initiated_at"] is not None
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    assert attempt.status is AttemptStatus.INITIATED


async def test_the_providers_word_before_our_acceptance_starts_the_call_once(
    runtime: Runtime, receiver: Receiver
) -> None:
    attempt_id = await queued_attempt(runtime, receiver)
    services = runtime.services
    await apply_event(services, attempt_id, event("CA-2", CallProgress.RINGING, 1))
    await services.writes.accept(attempt_id, "CA-2")  # late: the call had started already
    answered = event("CA-2", CallProgress.ANSWERED, 2, answered_by=AnsweredBy.HUMAN)
    await apply_event(services, attempt_id, answered)
    await apply_event(services, attempt_id, event("CA-2", CallProgress.COMPLETED, 3, duration=9))
    events = await delivered(runtime, receiver, 4)
    assert [(p["sequence"], p["type"]) for p in events] == list(enumerate(CALL_EVENTS, 1))
    assert events[1]["data"]["answered_by"] == "human"
    assert events[1]["data"]["answered_at"] == events[2]["data"]["answered_at"]
    assert events[2]["data"]["status"] == "COMPLETED"
    assert await deliverer(runtime).run_once() == 0  # and nothing more: one start only


async def test_a_batch_that_starts_answers_and_ends_a_call_reports_it_in_order(
    runtime: Runtime, receiver: Receiver
) -> None:
    attempt_id = await queued_attempt(runtime, receiver)
    batch = [
        Delivery(attempt_id, event("CA-3", CallProgress.ANSWERED, 1)),
        Delivery(attempt_id, event("CA-3", CallProgress.COMPLETED, 2, duration=4)),
    ]
    await apply_events(runtime.services, batch)  # one transaction
    events = await delivered(runtime, receiver, 4)
    assert [(p["sequence"], p["type"]) for p in events] == list(enumerate(CALL_EVENTS, 1))
    assert events[1]["data"]["answered_by"] is None  # no detection
    assert {p["data"]["provider_call_id"] for p in events[:3]} == {"CA-3"}
