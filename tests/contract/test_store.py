"""The store contract: the same behaviour on SQLite, PostgreSQL and in memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dialer.adapters.clock import ManualClock
from dialer.domain.model import Campaign, CampaignSettings, Lead
from dialer.domain.statuses import AttemptStatus, CallProgress, CampaignStatus, LeadStatus
from dialer.errors import Conflict, NotFound
from dialer.ports import ContactDraft, Deferral, NewAttempt, ProviderEvent, Store

NY = "America/New_York"
LA = "America/Los_Angeles"


def draft(n: int, zone: str = NY) -> ContactDraft:
    return ContactDraft(phone=f"+1212555{n:04d}", zone_key=zone, name=f"c{n}", tags=("t",))


async def new_campaign(store: Store, clock: ManualClock, name: str = "c") -> Campaign:
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        campaign = await uow.campaigns.add(
            tenant, CampaignSettings(name, "+14155550100"), clock.now()
        )
        await uow.commit()
    return campaign


async def with_leads(
    store: Store, clock: ManualClock, drafts: list[ContactDraft]
) -> tuple[Campaign, list[int]]:
    campaign = await new_campaign(store, clock)
    async with store.unit() as uow:
        ids = await uow.contacts.upsert(campaign.tenant_id, drafts, clock.now())
        await uow.leads.add(campaign, list(zip(ids, drafts, strict=True)), clock.now())
        await uow.commit()
    return campaign, ids


async def claim(
    store: Store, campaign: Campaign, clock: ManualClock, keys: list[str], n: int
) -> list[Lead]:
    async with store.unit() as uow:
        return await uow.leads.claim_due(campaign.id, keys, clock.now(), n)


async def test_tenant_is_created_once(store: Store) -> None:
    async with store.unit() as uow:
        first = await uow.tenants.id_for("acme")
        again = await uow.tenants.id_for("acme")
        other = await uow.tenants.id_for("globex")
        await uow.commit()
    assert first == again
    assert other != first


async def test_campaign_round_trip_keeps_settings(store: Store, clock: ManualClock) -> None:
    campaign = await new_campaign(store, clock, "reminders")
    async with store.unit() as uow:
        loaded = await uow.campaigns.get(campaign.id)
    assert loaded.settings == campaign.settings
    assert loaded.status is CampaignStatus.DRAFT
    assert loaded.created_at == clock.now()


async def test_missing_campaign_is_not_found(store: Store) -> None:
    async with store.unit() as uow:
        with pytest.raises(NotFound):
            await uow.campaigns.get(999)


async def test_stale_campaign_write_conflicts(store: Store, clock: ManualClock) -> None:
    campaign = await new_campaign(store, clock)
    async with store.unit() as uow:
        a = await uow.campaigns.get(campaign.id)
    async with store.unit() as uow:
        b = await uow.campaigns.get(campaign.id)
    a.move_to(CampaignStatus.RUNNING)
    async with store.unit() as uow:
        await uow.campaigns.save_status(a, clock.now())
        await uow.commit()
    b.move_to(CampaignStatus.CANCELLED)
    async with store.unit() as uow:
        with pytest.raises(Conflict):
            await uow.campaigns.save_status(b, clock.now())
    async with store.unit() as uow:
        assert (await uow.campaigns.get(campaign.id)).status is CampaignStatus.RUNNING


async def test_uncommitted_unit_changes_nothing(store: Store, clock: ManualClock) -> None:
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("ghost")
        await uow.campaigns.add(tenant, CampaignSettings("never", "+14155550100"), clock.now())
    async with store.unit() as uow:
        assert await uow.campaigns.in_status(list(CampaignStatus)) == []


async def test_contacts_upsert_keeps_ids_and_contact_version_conflicts(
    store: Store, clock: ManualClock
) -> None:
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        first = await uow.contacts.upsert(tenant, [draft(1), draft(2)], clock.now())
        again = await uow.contacts.upsert(tenant, [draft(2), draft(3)], clock.now())
        await uow.commit()
    assert again[0] == first[1]
    assert again[1] not in first
    async with store.unit() as uow:
        one = await uow.contacts.get(first[0])
        two = await uow.contacts.get(first[0])
    assert one.tags == ("t",)
    one.name = "renamed"
    async with store.unit() as uow:
        await uow.contacts.update(one)
        await uow.commit()
    two.name = "stale"
    async with store.unit() as uow:
        with pytest.raises(Conflict):
            await uow.contacts.update(two)
    async with store.unit() as uow:
        assert (await uow.contacts.get(first[0])).name == "renamed"


async def test_a_contact_is_added_to_a_campaign_once(store: Store, clock: ManualClock) -> None:
    campaign, ids = await with_leads(store, clock, [draft(1), draft(2)])
    async with store.unit() as uow:
        added = await uow.leads.add(campaign, [(ids[0], draft(1))], clock.now())
        counts = await uow.views.lead_counts(campaign.id)
    assert added == 0
    assert counts == {LeadStatus.PENDING: 2}


async def test_claim_filters_zone_time_and_status(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1), draft(2, LA), draft(3)])
    async with store.unit() as uow:
        assert await uow.leads.due_zone_keys(campaign.id) == {NY, LA}
    leads = await claim(store, campaign, clock, [NY], 10)
    assert sorted(lead.phone for lead in leads) == ["+12125550001", "+12125550003"]
    assert await claim(store, campaign, clock, [], 10) == []
    async with store.unit() as uow:
        later = clock.now() + timedelta(hours=1)
        await uow.leads.defer([Deferral(leads[0].id, LeadStatus.WAITING_RETRY, later)], clock.now())
        await uow.commit()
    assert [lead.phone for lead in await claim(store, campaign, clock, [NY], 10)] == [
        "+12125550003"
    ]
    clock.advance(3600)
    assert len(await claim(store, campaign, clock, [NY], 10)) == 2


async def test_claim_respects_the_limit_oldest_first(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(n) for n in range(5)])
    leads = await claim(store, campaign, clock, [NY], 3)
    assert [lead.phone for lead in leads] == ["+12125550000", "+12125550001", "+12125550002"]


async def start(store: Store, clock: ManualClock, leads: list[Lead]) -> list[int]:
    expires = clock.now() + timedelta(minutes=10)
    async with store.unit() as uow:
        attempts = await uow.attempts.start(
            [NewAttempt(lead, f"lease-{lead.id}", expires, "+14155550100") for lead in leads],
            clock.now(),
        )
        await uow.commit()
    return [a.id for a in attempts]


async def test_starting_attempts_marks_leads_dialing(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1), draft(2)])
    leads = await claim(store, campaign, clock, [NY], 10)
    attempt_ids = await start(store, clock, leads)
    async with store.unit() as uow:
        attempt = await uow.attempts.get(attempt_ids[0])
        lead = await uow.leads.get(leads[0].id)
        live = await uow.views.live_attempts(campaign.id)
    assert attempt is not None
    assert (attempt.status, attempt.number, attempt.lease_id) == (
        AttemptStatus.QUEUED,
        1,
        f"lease-{leads[0].id}",
    )
    assert attempt.tenant_id == campaign.tenant_id
    assert (lead.status, lead.attempts, lead.last_attempt_id) == (
        LeadStatus.DIALING,
        1,
        attempt_ids[0],
    )
    assert live == 2
    assert await claim(store, campaign, clock, [NY], 10) == []


async def test_events_are_recorded_once(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1)])
    [attempt_id] = await start(store, clock, await claim(store, campaign, clock, [NY], 1))
    ringing = ProviderEvent("CA1", CallProgress.RINGING, sequence=1, raw={"CallStatus": "ringing"})
    async with store.unit() as uow:
        assert await uow.attempts.record_event(attempt_id, ringing, "RINGING", clock.now())
        assert not await uow.attempts.record_event(attempt_id, ringing, "RINGING", clock.now())
        answered = ProviderEvent("CA1", CallProgress.ANSWERED, sequence=2)
        assert await uow.attempts.record_event(attempt_id, answered, "ANSWERED", clock.now())
        await uow.commit()


async def test_provider_call_id_lookup_and_expiry(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1), draft(2)])
    first, second = await start(store, clock, await claim(store, campaign, clock, [NY], 2))
    async with store.unit() as uow:
        attempt = await uow.attempts.get(first, lock=True)
        assert attempt is not None
        attempt.provider_call_id = "CA-first"
        attempt.status = AttemptStatus.COMPLETED
        await uow.attempts.save(attempt)
        await uow.commit()
    async with store.unit() as uow:
        found = await uow.attempts.by_call_id("CA-first")
        assert found is not None
        assert found.id == first
        assert await uow.attempts.expired(clock.now(), 10) == []
    clock.advance(601)
    async with store.unit() as uow:
        expired = await uow.attempts.expired(clock.now(), 10)
    assert [a.id for a in expired] == [second]  # the completed one is not live


async def test_skip_and_cancel_leads(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1), draft(2, LA), draft(3)])
    async with store.unit() as uow:
        skipped = await uow.leads.skip_due(campaign.id, [LA], "no calling window", clock.now())
        cancelled = await uow.leads.move_all(
            campaign.id, [LeadStatus.PENDING], LeadStatus.CANCELLED, clock.now()
        )
        counts = await uow.views.lead_counts(campaign.id)
        open_left = await uow.leads.has_open(campaign.id)
        await uow.commit()
    assert (skipped, cancelled) == (1, 2)
    assert counts == {LeadStatus.SKIPPED: 1, LeadStatus.CANCELLED: 2}
    assert not open_left


async def test_stale_lead_write_conflicts(store: Store, clock: ManualClock) -> None:
    campaign, _ = await with_leads(store, clock, [draft(1)])
    [lead] = await claim(store, campaign, clock, [NY], 1)
    await start(store, clock, [lead])  # bumps the stored version
    lead.status = LeadStatus.DONE
    async with store.unit() as uow:
        with pytest.raises(Conflict):
            await uow.leads.save(lead, "COMPLETED", clock.now())


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_concurrent_claims_never_share_a_lead(store: Store, clock: ManualClock) -> None:
    """SKIP LOCKED: two open claim transactions get disjoint leads, and neither waits."""
    campaign, _ = await with_leads(store, clock, [draft(n) for n in range(10)])
    async with store.unit() as first, store.unit() as second:
        a = await first.leads.claim_due(campaign.id, [NY], clock.now(), 6)
        b = await asyncio.wait_for(second.leads.claim_due(campaign.id, [NY], clock.now(), 6), 5)
    assert len(a) == 6
    assert len(b) == 4
    assert not {lead.id for lead in a} & {lead.id for lead in b}
