"""The dialling use cases on the in-memory backends: dispatch, origination, provider events,
retries and cancellation, one step at a time on a manual clock. Calls are counted from the
provider double's side (what it was asked to create), leads and attempts read from the store."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.statuses import AttemptStatus, CallProgress, LeadStatus
from dialer.ports import ContactDraft, LeadQuery, ProviderEvent
from dialer.services.calls import originate
from dialer.services.campaigns import cancel_campaign, create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.services.provider_events import apply_event
from tests.support.in_process import InProcess, in_process

NY = "America/New_York"


def campaign_settings(**changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": "unit",
        "caller_id": "+14155550100",
        "max_concurrency": 3,
        "ramp_up": 0,  # the whole cap at once: each tick is judged on the cap alone
        "retry": RetryPolicy(
            2, {Outcome.NO_ANSWER: FixedDelays((600,)), Outcome.FAILED: FixedDelays(())}
        ),
        "ring_timeout": 10,
        "max_call_duration": 60,
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


def drafts(n: int) -> list[ContactDraft]:
    return [ContactDraft(f"+1212{2000000 + i:07d}", zone_key((NY,))) for i in range(n)]


async def started(p: InProcess, contacts: int, **changes: object) -> Campaign:
    campaign = await create_campaign(p.services, "acme", campaign_settings(**changes))
    await import_drafts(p.services, campaign.id, drafts(contacts))
    return await start_campaign(p.services, campaign.id)


async def lead_statuses(p: InProcess, campaign: Campaign) -> Counter[LeadStatus]:
    async with p.services.store.unit() as uow:
        found = await uow.leads.find(LeadQuery(campaign.id, limit=1000))
    return Counter(result.lead.status for result in found)


async def dispatch_and_send(p: InProcess) -> list[tuple[int, str]]:
    """One dispatcher tick, then every job it admitted sent: (attempt id, call id) pairs."""
    await Dispatcher(p.services, p.executor).run_once()
    sent = []
    for job in p.executor.take():
        await originate(p.services, job)
        sent.append((job.attempt_id, f"CA{len(p.provider.created):032d}"))
    return sent


async def end_call(p: InProcess, attempt_id: int, call_id: str, progress: CallProgress) -> None:
    event = ProviderEvent(call_id, progress, occurred_at=p.clock.now(), duration=20)
    await apply_event(p.services, attempt_id, event)


async def test_a_tick_starts_up_to_the_cap_and_no_more() -> None:
    p = in_process()
    campaign = await started(p, contacts=10, max_concurrency=3)
    sent = await dispatch_and_send(p)
    assert len(sent) == 3
    assert len(p.provider.created) == 3
    assert len({r.to for r in p.provider.created}) == 3  # three people, once each
    await Dispatcher(p.services, p.executor).run_once()  # the cap is full: nothing more
    assert p.executor.jobs == []
    assert (await lead_statuses(p, campaign))[LeadStatus.DIALING] == 3


async def test_a_job_delivered_twice_creates_one_call() -> None:
    p = in_process()
    await started(p, contacts=1)
    await Dispatcher(p.services, p.executor).run_once()
    [job] = p.executor.take()
    await originate(p.services, job)
    await originate(p.services, job)  # redelivered: the sent marker is already set
    assert len(p.provider.created) == 1


async def test_an_answered_call_ends_its_lead_and_frees_the_slot() -> None:
    p = in_process()
    campaign = await started(p, contacts=4, max_concurrency=1)
    [(attempt_id, call_id)] = await dispatch_and_send(p)
    await end_call(p, attempt_id, call_id, CallProgress.COMPLETED)
    assert (await p.services.admission.usage()).global_active == 0
    assert len(await dispatch_and_send(p)) == 1  # the freed slot is used at once
    statuses = await lead_statuses(p, campaign)
    assert statuses[LeadStatus.DONE] == 1
    assert statuses[LeadStatus.DIALING] == 1


async def test_an_unanswered_call_is_retried_after_its_delay_then_exhausted() -> None:
    p = in_process()
    campaign = await started(p, contacts=1)
    [(attempt_id, call_id)] = await dispatch_and_send(p)
    await end_call(p, attempt_id, call_id, CallProgress.NO_ANSWER)
    assert await lead_statuses(p, campaign) == Counter({LeadStatus.WAITING_RETRY: 1})
    assert await dispatch_and_send(p) == []  # not before its delay
    p.clock.advance(timedelta(minutes=10).total_seconds())
    [(second, second_call)] = await dispatch_and_send(p)
    assert second != attempt_id
    await end_call(p, second, second_call, CallProgress.NO_ANSWER)
    assert await lead_statuses(p, campaign) == Counter({LeadStatus.EXHAUSTED: 1})
    assert len(p.provider.created) == 2


async def test_a_repeated_event_is_recorded_once() -> None:
    p = in_process()
    await started(p, contacts=1)
    [(attempt_id, call_id)] = await dispatch_and_send(p)
    event = ProviderEvent(call_id, CallProgress.COMPLETED, occurred_at=p.clock.now(), duration=5)
    first = await apply_event(p.services, attempt_id, event)
    again = await apply_event(p.services, attempt_id, event)
    assert first.effect == AttemptStatus.COMPLETED.value
    assert again.effect == "duplicate"
    async with p.services.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
    assert attempt is not None
    assert attempt.status is AttemptStatus.COMPLETED


async def test_cancelling_ends_waiting_leads_now_and_calls_in_flight_when_they_end() -> None:
    p = in_process()
    campaign = await started(p, contacts=5, max_concurrency=2)
    sent = await dispatch_and_send(p)
    await cancel_campaign(p.services, campaign.id)
    assert await lead_statuses(p, campaign) == Counter(
        {LeadStatus.CANCELLED: 3, LeadStatus.DIALING: 2}
    )
    for attempt_id, call_id in sent:
        await end_call(p, attempt_id, call_id, CallProgress.NO_ANSWER)
    assert await lead_statuses(p, campaign) == Counter({LeadStatus.CANCELLED: 5})
    await Dispatcher(p.services, p.executor).run_once()
    assert p.executor.jobs == []


async def test_a_listed_number_is_never_dialled() -> None:
    p = in_process()
    campaign = await create_campaign(p.services, "acme", campaign_settings())
    listed = drafts(3)[1].phone
    async with p.services.store.unit() as uow:
        await uow.do_not_call.add(campaign.tenant_id, [(listed, "asked")], p.clock.now())
        await uow.commit()
    await import_drafts(p.services, campaign.id, drafts(3))
    await start_campaign(p.services, campaign.id)
    await dispatch_and_send(p)
    assert listed not in {r.to for r in p.provider.created}
    assert len(p.provider.created) == 2
