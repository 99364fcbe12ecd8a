"""The store contract, repository by repository: what each operation of the store port
answers and changes, the same on SQLite, PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from dialer.adapters.clock import ManualClock
from dialer.domain.breaker import BreakerState, ProviderHealth
from dialer.domain.machines import AnsweredBy
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.stages import Stage
from dialer.domain.statuses import AttemptStatus, CallProgress, CampaignStatus, LeadStatus
from dialer.errors import Conflict, NotFound
from dialer.ports import (
    AttemptQuery,
    ContactDraft,
    DashboardSession,
    Deferral,
    LeadQuery,
    NewApiKey,
    NewAttempt,
    NewDeadLetter,
    NodeBeat,
    ProviderEvent,
    RecordedEvent,
    Store,
    StoredResponse,
)

NY = "America/New_York"
LA = "America/Los_Angeles"


def draft(n: int, zone: str = NY) -> ContactDraft:
    return ContactDraft(phone=f"+1212555{n:04d}", zone_key=zone, name=f"c{n}")


async def campaign_of(
    store: Store, clock: ManualClock, name: str = "c", priority: int = 5, tenant: str = "acme"
) -> Campaign:
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        settings = CampaignSettings(name, "+14155550100", priority=priority)
        campaign = await uow.campaigns.add(tenant_id, settings, clock.now())
        await uow.commit()
    return campaign


async def with_leads(store: Store, clock: ManualClock, drafts: list[ContactDraft]) -> Campaign:
    campaign = await campaign_of(store, clock)
    async with store.unit() as uow:
        ids = await uow.contacts.upsert(campaign.tenant_id, drafts, clock.now())
        await uow.leads.add(campaign, list(zip(ids, drafts, strict=True)), clock.now())
        await uow.commit()
    return campaign


async def dial(store: Store, clock: ManualClock, campaign: Campaign, n: int) -> list[int]:
    """Claim ``n`` leads and start an attempt for each; the attempts' ids."""
    expires = clock.now() + timedelta(minutes=10)
    async with store.unit() as uow:
        leads = await uow.leads.claim_due(campaign.id, [NY, LA], clock.now(), n)
        items = [NewAttempt(lead, f"lease-{lead.id}", expires, "+14155550100") for lead in leads]
        attempts = await uow.attempts.start(items, clock.now())
        await uow.commit()
    return [a.id for a in attempts]


async def end_attempt(
    store: Store, attempt_id: int, status: AttemptStatus, call_id: str | None = None
) -> None:
    async with store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
        assert attempt is not None
        attempt.status, attempt.provider_call_id = status, call_id
        attempt.ended_at = attempt.created_at
        await uow.attempts.save(attempt)
        await uow.commit()


async def test_a_unit_sees_its_own_changes_and_keeps_only_what_it_committed(
    store: Store, clock: ManualClock
) -> None:
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        assert await uow.tenants.name(tenant) == "acme"
        await uow.commit()
        await uow.tenants.save_settings(tenant, {"quiet": True})
        assert await uow.tenants.settings(tenant) == {"quiet": True}
    async with store.unit() as uow:
        assert await uow.tenants.settings(tenant) == {}
        with pytest.raises(NotFound):
            await uow.tenants.name(tenant + 100)
        with pytest.raises(NotFound):
            await uow.tenants.save_settings(tenant + 100, {})


async def test_campaigns_by_status_priority_and_tenant(store: Store, clock: ManualClock) -> None:
    low = await campaign_of(store, clock, "low", priority=1)
    high = await campaign_of(store, clock, "high", priority=9)
    other = await campaign_of(store, clock, "other", tenant="globex")
    async with store.unit() as uow:
        by_priority = await uow.campaigns.in_status([CampaignStatus.DRAFT])
        first_page = await uow.campaigns.of_tenant(low.tenant_id, 0, 1)
        second_page = await uow.campaigns.of_tenant(low.tenant_id, low.id, 10)
        route = await uow.campaigns.route(other.id)
        with pytest.raises(NotFound):
            await uow.campaigns.route(999)
    assert [c.name for c in by_priority] == ["high", "other", "low"]
    assert [c.id for c in first_page] == [low.id]
    assert [c.id for c in second_page] == [high.id]
    assert (route.tenant, route.campaign, route.priority) == ("globex", "other", 5)


async def test_stale_campaign_settings_conflict(store: Store, clock: ManualClock) -> None:
    campaign = await campaign_of(store, clock)
    stale = replace(campaign)
    async with store.unit() as uow:
        await uow.campaigns.save_settings(
            campaign, replace(campaign.settings, name="new"), clock.now()
        )
        await uow.commit()
    async with store.unit() as uow:
        with pytest.raises(Conflict):
            await uow.campaigns.save_settings(stale, stale.settings, clock.now())
        loaded = await uow.campaigns.get(campaign.id)
    assert (loaded.name, loaded.version, campaign.version) == ("new", 2, 2)


async def test_an_api_queue_points_at_one_campaign(store: Store, clock: ManualClock) -> None:
    first = await campaign_of(store, clock, "q1")
    second = await campaign_of(store, clock, "q2")
    tenant = first.tenant_id
    async with store.unit() as uow:
        assert await uow.campaigns.queue_for(tenant, "+1", "k") is None
        assert await uow.campaigns.set_queue(tenant, "+1", "k", first.id, None) == first.id
        assert await uow.campaigns.set_queue(tenant, "+1", "k", second.id, None) == first.id
        assert await uow.campaigns.set_queue(tenant, "+1", "k", second.id, first.id) == second.id
        assert await uow.campaigns.set_queue(tenant, "+1", "k", first.id, first.id) == second.id
        assert await uow.campaigns.queues(tenant) == [second.id]
        assert await uow.campaigns.queues(tenant + 100) == []
        await uow.commit()


async def test_a_completed_queue_with_leads_is_stranded_and_reopens(
    store: Store, clock: ManualClock
) -> None:
    campaign = await with_leads(store, clock, [draft(1)])
    async with store.unit() as uow:
        assert not await uow.campaigns.reopen(campaign.id, clock.now())
        for status in (CampaignStatus.RUNNING, CampaignStatus.COMPLETED):
            campaign.move_to(status)
            await uow.campaigns.save_status(campaign, clock.now())
        assert await uow.campaigns.stranded([campaign.id, 999]) == [campaign.id]
        assert await uow.campaigns.reopen(campaign.id, clock.now())
        reopened = await uow.campaigns.get(campaign.id)
        assert await uow.campaigns.stranded([campaign.id]) == []
    assert (reopened.status, reopened.version) == (CampaignStatus.RUNNING, 4)


async def test_queueing_leads_requeues_only_finished_ones(store: Store, clock: ManualClock) -> None:
    campaign = await campaign_of(store, clock)
    drafts = [draft(1), draft(2)]
    async with store.unit() as uow:
        ids = await uow.contacts.upsert(campaign.tenant_id, drafts, clock.now())
        items = list(zip(ids, drafts, strict=True))
        first = await uow.leads.queue(campaign, items, clock.now())
        again = await uow.leads.queue(campaign, items, clock.now())
        done = first[0][0]
        done.status = LeadStatus.DONE
        await uow.leads.save(done, "COMPLETED", clock.now())
        third = await uow.leads.queue(campaign, items, clock.now())
        await uow.leads.trace([done.id], "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
        traced = await uow.leads.get(done.id, lock=True)
        await uow.commit()
    assert [new for _, new in first] == [True, True]
    assert [new for _, new in again] == [False, False]
    assert [(lead.id, new) for lead, new in third] == [(done.id, True), (first[1][0].id, False)]
    assert (third[0][0].status, third[0][0].attempts) == (LeadStatus.PENDING, 0)
    assert traced.traceparent is not None
    assert traced.traceparent.endswith("-01")


async def test_a_leads_page_filters_by_status_last_call_stage_and_number(
    store: Store, clock: ManualClock
) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3)])
    [attempt_id] = await dial(store, clock, campaign, 1)
    await end_attempt(store, attempt_id, AttemptStatus.NO_ANSWER, "CA-1")
    async with store.unit() as uow:
        [called] = (await uow.leads.find(LeadQuery(campaign.id, 10)))[:1]
        lead = called.lead
        lead.status, lead.next_attempt_at = LeadStatus.WAITING_RETRY, clock.now()
        await uow.leads.save(lead, None, clock.now())
        await uow.leads.skip([lead.id + 2], "do not call", clock.now())
        await uow.commit()

    async def page(**filters: object) -> list[tuple[str, str | None, AttemptStatus | None]]:
        async with store.unit() as uow:
            found = await uow.leads.find(LeadQuery(campaign.id, **{"limit": 10, **filters}))  # type: ignore[arg-type]
        return [
            (r.lead.phone, r.skip_reason, r.last_attempt and r.last_attempt.status) for r in found
        ]

    assert await page() == [
        ("+12125550001", None, AttemptStatus.NO_ANSWER),
        ("+12125550002", None, None),
        ("+12125550003", "do not call", None),
    ]
    assert await page(statuses=(LeadStatus.SKIPPED,)) == [("+12125550003", "do not call", None)]
    assert [p for p, _, _ in await page(last_outcomes=(AttemptStatus.NO_ANSWER,))] == [
        "+12125550001"
    ]
    assert [p for p, _, _ in await page(stages=(Stage.RETRYING,))] == ["+12125550001"]
    assert [p for p, _, _ in await page(phone="+12125550002")] == ["+12125550002"]
    assert [p for p, _, _ in await page(after_id=lead.id, limit=1)] == ["+12125550002"]
    async with store.unit() as uow:
        [named] = await uow.leads.find(LeadQuery(campaign.id, 1))
    assert named.name == "c1"


async def test_do_not_call_lists_tenant_and_platform(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3)])
    tenant = campaign.tenant_id
    async with store.unit() as uow:
        entries = [("+12125550001", "asked"), ("+12125550001", "twice")]
        assert await uow.do_not_call.add(tenant, entries, clock.now(), added_by=tenant) == 1
        assert await uow.do_not_call.add(0, [("+12125550002", None)], clock.now()) == 1
        listed = await uow.do_not_call.listed(tenant, ["+12125550001", "+12125550002", "+1"])
        other_tenant = await uow.do_not_call.listed(tenant + 100, ["+12125550001"])
        [own] = await uow.do_not_call.page(tenant, 0, 10)
        [platform] = await uow.do_not_call.page(0, 0, 10)
        skipped = await uow.leads.skip_listed(campaign, "on a do-not-call list", clock.now())
        removed = await uow.do_not_call.remove(tenant, ["+12125550001", "+12125550001", "+1"])
        await uow.commit()
    assert listed == {"+12125550001", "+12125550002"}
    assert other_tenant == set()
    assert (own.phone, own.reason, own.added_by_id, own.added_by) == (
        "+12125550001",
        "asked",
        tenant,
        "acme",
    )
    assert (platform.added_by_id, platform.added_by) == (None, None)
    assert (skipped, removed) == (2, 1)


async def test_deferred_leads_are_counted_by_why_they_wait(
    store: Store, clock: ManualClock
) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3), draft(4, LA)])
    later = clock.now() + timedelta(hours=1)
    async with store.unit() as uow:
        leads = await uow.leads.claim_due(campaign.id, [NY], clock.now(), 2)
        deferrals = [Deferral(lead.id, LeadStatus.WAITING_RETRY, later, "cap") for lead in leads]
        await uow.leads.defer(deferrals, clock.now())
        groups = await uow.views.waiting_groups(campaign.id, clock.now())
        due = await uow.views.due_lead_counts([campaign.id], clock.now())
        open_leads = await uow.views.open_leads_in([campaign.id], 3)
        await uow.commit()
    assert sorted((g.zone_key, g.status, g.waiting_on, g.due_now, g.leads) for g in groups) == [
        (LA, LeadStatus.PENDING, None, True, 1),
        (NY, LeadStatus.PENDING, None, True, 1),
        (NY, LeadStatus.WAITING_RETRY, "cap", False, 2),
    ]
    assert {g.next_at for g in groups if g.waiting_on} == {later}
    assert due == {(campaign.id, NY): 1, (campaign.id, LA): 1}
    assert open_leads == 3


async def test_attempts_are_sent_once_and_listed(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3)])
    ids = await dial(store, clock, campaign, 3)
    clock.advance(60)
    async with store.unit() as uow:
        assert await uow.attempts.mark_sending(ids[0], clock.now())
        assert not await uow.attempts.mark_sending(ids[0], clock.now())
        unsent = await uow.attempts.unsent(clock.now(), 1)
        unsent_count = await uow.views.unsent_attempt_count()
        await uow.commit()
    await end_attempt(store, ids[1], AttemptStatus.FAILED)
    async with store.unit() as uow:
        sent, by_status = await uow.views.attempt_totals(campaign.tenant_id)
        live = await uow.attempts.live()
        newest = await uow.attempts.find(AttemptQuery(campaign.tenant_id, 2))
        before = await uow.attempts.find(AttemptQuery(campaign.tenant_id, 5, before_id=ids[2]))
        failed = await uow.attempts.find(
            AttemptQuery(campaign.tenant_id, 5, statuses=(AttemptStatus.FAILED,))
        )
        of_lead = await uow.attempts.of_lead(newest[0].lead_id)
    assert [a.id for a in unsent] == [ids[1]]
    assert unsent_count == 2
    assert (sent, by_status) == (1, {AttemptStatus.QUEUED: 2, AttemptStatus.FAILED: 1})
    assert sorted(a.id for a in live) == [ids[0], ids[2]]
    assert [a.id for a in newest] == [ids[2], ids[1]]
    assert [a.id for a in before] == [ids[1], ids[0]]
    assert [a.id for a in failed] == [ids[1]]
    assert [a.id for a in of_lead] == [ids[2]]


async def test_a_numbers_history_counts_the_calls_made(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3)])
    first, refused, talked = await dial(store, clock, campaign, 3)
    await end_attempt(store, refused, AttemptStatus.CANCELED)  # never reached the provider
    await end_attempt(store, talked, AttemptStatus.COMPLETED, "CA-3")
    tenant = campaign.tenant_id
    phones = ["+12125550001", "+12125550002", "+12125550003", "+1"]
    async with store.unit() as uow:
        history = await uow.contacts.number_history(tenant, phones, clock.now())
        later = await uow.contacts.number_history(tenant, phones, clock.now() + timedelta(1))
        [(attempt, name)] = await uow.contacts.history(tenant, "+12125550003", 5)
    assert set(history) == {"+12125550001", "+12125550003"}
    assert history["+12125550001"].recent_attempts == (clock.now(),)
    assert history["+12125550001"].last_conversation is None
    assert history["+12125550003"].last_conversation == clock.now()
    assert later == {}
    assert (attempt.id, name) == (talked, "c")
    assert first != talked


async def test_api_keys_are_listed_and_revoked_once(store: Store, clock: ManualClock) -> None:
    async with store.unit() as uow:
        acme = await uow.tenants.id_for("acme")
        globex = await uow.tenants.id_for("globex")
        one = await uow.access.add_key(NewApiKey(acme, "k1", "h1", "admin", "ops"), clock.now())
        await uow.access.add_key(NewApiKey(globex, "k2", "h2", "read", "bi"), clock.now())
        assert not await uow.access.revoke_key("k1", globex, clock.now())
        assert await uow.access.revoke_key("k1", acme, clock.now())
        assert not await uow.access.revoke_key("k1", None, clock.now())
        found = await uow.access.key("k1")
        every = await uow.access.keys(None)
        acme_keys = await uow.access.keys(acme)
        assert await uow.access.key("nope") is None
        await uow.commit()
    assert (one.tenant, one.scope, one.revoked_at) == ("acme", "admin", None)
    assert found is not None
    assert found.revoked_at == clock.now()
    assert [k.key_id for k in every] == ["k1", "k2"]
    assert [k.key_id for k in acme_keys] == ["k1"]


async def test_an_idempotency_key_keeps_the_first_answer(store: Store, clock: ManualClock) -> None:
    async with store.unit() as uow:
        assert await uow.access.claim_idempotency_key(1, "key", "fp", clock.now()) is None
        placeholder = await uow.access.claim_idempotency_key(1, "key", "other", clock.now())
        await uow.access.save_idempotent_response(1, "key", 201, {"id": [1, 2]})
        answered = await uow.access.claim_idempotency_key(1, "key", "fp", clock.now())
        assert await uow.access.claim_idempotency_key(2, "key", "fp", clock.now()) is None
        pruned = await uow.access.prune_idempotency_keys(clock.now() + timedelta(seconds=1))
        await uow.commit()
    assert placeholder == StoredResponse("fp", 0, {})
    assert answered == StoredResponse("fp", 201, {"id": [1, 2]})
    assert pruned == 2


async def test_dashboard_sessions_are_capped_touched_and_pruned(
    store: Store, clock: ManualClock
) -> None:
    async with store.unit() as uow:
        tenant = await uow.tenants.id_for("acme")
        await uow.access.add_key(NewApiKey(tenant, "k1", "h", "admin", "ops"), clock.now())
        for n in range(3):
            seen = clock.now() + timedelta(seconds=n)
            session = DashboardSession(f"d{n}", "k1", tenant, "csrf", clock.now(), seen)
            await uow.access.add_session(session, keep=2)
        kept = [await uow.access.session(f"d{n}") is not None for n in range(3)]
        await uow.access.touch_session("d1", clock.now() + timedelta(hours=1))
        await uow.access.save_notices("d2", [{"text": "saved"}])
        notices = await uow.access.notices("d2")
        missing = await uow.access.notices("d0")
        pruned = await uow.access.prune_sessions(clock.now() + timedelta(minutes=1))
        left = [await uow.access.session(f"d{n}") is not None for n in range(3)]
        await uow.access.revoke_key("k1", None, clock.now())
        revoked = await uow.access.prune_sessions(clock.now())
        await uow.commit()
    assert kept == [False, True, True]
    assert (notices, missing) == ([{"text": "saved"}], None)
    assert (pruned, left, revoked) == (1, [False, True, False], 1)


async def test_a_failing_job_has_one_dead_letter(store: Store, clock: ManualClock) -> None:
    letter = NewDeadLetter(1, "originate", "job-1", "boom", {"lead": 1}, 3)
    async with store.unit() as uow:
        await uow.cluster.add_dead_letter(letter, clock.now())
        await uow.cluster.add_dead_letter(replace(letter, cause="again"), clock.now())
        [open_letter] = await uow.cluster.dead_letters(None, 0, 10, include_closed=False)
        assert await uow.cluster.close_dead_letter(open_letter.id, "replayed", clock.now())
        assert not await uow.cluster.close_dead_letter(open_letter.id, "discarded", clock.now())
        closed_count = await uow.views.open_dead_letter_count()
        await uow.cluster.add_dead_letter(letter, clock.now())  # replayed, and failed again
        reopened = await uow.cluster.get_dead_letter(open_letter.id, lock=True)
        await uow.cluster.add_dead_letter(replace(letter, tenant_id=2, key="job-2"), clock.now())
        assert await uow.cluster.close_dead_letter(open_letter.id, "discarded", clock.now())
        open_ones = await uow.cluster.dead_letters(None, 0, 10, include_closed=False)
        of_tenant = await uow.cluster.dead_letters(1, 0, 10, include_closed=True)
        with pytest.raises(ValueError, match="replayed or discarded"):
            await uow.cluster.close_dead_letter(open_letter.id, "lost", clock.now())
        await uow.commit()
    assert (open_letter.attempts, open_letter.cause, open_letter.payload) == (
        6,
        "again",
        {"lead": 1},
    )
    assert closed_count == 0
    assert reopened is not None
    assert (reopened.is_open, reopened.attempts) == (True, 9)
    assert [d.tenant_id for d in open_ones] == [2]
    assert [(d.id, d.discarded_at) for d in of_tenant] == [(open_letter.id, clock.now())]


async def test_heartbeats_are_one_row_per_process(store: Store, clock: ManualClock) -> None:
    start = clock.now()

    def beat(name: str, kind: str, seconds: int) -> NodeBeat:
        at = start + timedelta(seconds=seconds)
        return NodeBeat(name, kind, "n1", "host", 7, at, at, seconds, 0, 1.5, {"q": [1]})

    async with store.unit() as uow:
        await uow.cluster.save_heartbeat(beat("w-1", "worker", 0))
        await uow.cluster.save_heartbeat(beat("w-1", "worker", 30))
        await uow.cluster.save_heartbeat(beat("d-1", "dispatcher", 10))
        beats = await uow.cluster.heartbeats()
        pruned = await uow.cluster.prune_heartbeats(start + timedelta(seconds=20))
        left = await uow.cluster.heartbeats()
        await uow.commit()
    assert [(b.name, b.processed) for b in beats] == [("d-1", 10), ("w-1", 30)]
    assert beats[1].started_at == start  # the first beat's
    assert dict(beats[1].info) == {"q": [1]}
    assert (pruned, [b.name for b in left]) == (1, ["w-1"])


async def test_provider_health_is_one_row_per_account(store: Store, clock: ManualClock) -> None:
    def health(account: str, state: BreakerState) -> ProviderHealth:
        return ProviderHealth(account, state, 1, None, 10.0, 20.0, clock.now())

    async with store.unit() as uow:
        await uow.providers.save_health(health("twilio:b", BreakerState.CLOSED))
        await uow.providers.save_health(health("twilio:a", BreakerState.CLOSED))
        await uow.providers.save_health(health("twilio:a", BreakerState.OPEN))
        await uow.commit()
    async with store.unit() as uow:
        found = await uow.providers.health()
    assert [(h.account, h.breaker_state) for h in found] == [
        ("twilio:a", BreakerState.OPEN),
        ("twilio:b", BreakerState.CLOSED),
    ]


async def test_a_campaigns_attempt_counts(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2)])
    first, _ = await dial(store, clock, campaign, 2)
    await end_attempt(store, first, AttemptStatus.BUSY)
    async with store.unit() as uow:
        counts = await uow.views.attempt_counts(campaign.id)
        since_now = await uow.views.attempts_since(campaign.id, clock.now())
        since_later = await uow.views.attempts_since(campaign.id, clock.now() + timedelta(1))
        live_of_tenant = await uow.views.live_attempts(tenant_id=campaign.tenant_id)
        live_elsewhere = await uow.views.live_attempts(tenant_id=campaign.tenant_id + 100)
        live_all = await uow.views.live_attempts()
    assert counts == {AttemptStatus.BUSY: 1, AttemptStatus.QUEUED: 1}
    assert (since_now, since_later) == (2, 0)
    assert (live_of_tenant, live_elsewhere, live_all) == (1, 0, 1)


async def test_batched_sent_markers_and_acceptances(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2), draft(3)])
    ids = await dial(store, clock, campaign, 3)
    await end_attempt(store, ids[2], AttemptStatus.FAILED)
    async with store.unit() as uow:
        assert await uow.attempts.mark_sending(ids[0], clock.now())
        marked = await uow.attempts.mark_sending_many([*ids, 10**9], clock.now())
        again = await uow.attempts.mark_sending_many(ids, clock.now())
        await uow.commit()
    assert (marked, again) == ({ids[1]}, set())  # sent before, ended, unknown: not marked
    clock.advance(5)
    async with store.unit() as uow:
        original = await uow.attempts.get(ids[0])
        assert original is not None
        original.provider_call_id, original.status = "CA-first", AttemptStatus.RINGING
        await uow.attempts.save(original)
        await uow.attempts.accept_many({ids[0]: "CA-late", ids[1]: "CA-1"}, clock.now())
        await uow.commit()
    async with store.unit() as uow:
        found = await uow.attempts.get_many([ids[1], ids[0], 10**9], lock=True)
    assert sorted(found) == [ids[0], ids[1]]
    first, second = found[ids[0]], found[ids[1]]
    # A call id it had stays, and so does a status past QUEUED; the QUEUED one is INITIATED.
    assert (first.provider_call_id, first.status) == ("CA-first", AttemptStatus.RINGING)
    assert (second.provider_call_id, second.status) == ("CA-1", AttemptStatus.INITIATED)
    assert second.initiated_at == clock.now()


async def test_batched_attempt_saves_and_events(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2)])
    ids = await dial(store, clock, campaign, 2)
    answered = ProviderEvent("CA1", CallProgress.ANSWERED, sequence=2, raw={"CallStatus": "x"})
    ended = ProviderEvent("CA1", CallProgress.COMPLETED, sequence=3, duration=7)
    async with store.unit() as uow:
        attempts = await uow.attempts.get_many(ids, lock=True)
        assert await uow.attempts.event_keys(ids) == set()
        await uow.attempts.record_events(
            [RecordedEvent(ids[0], answered, "ANSWERED"), RecordedEvent(ids[1], ended, "ignored")],
            clock.now(),
        )
        for attempt in attempts.values():
            attempt.status, attempt.duration = AttemptStatus.COMPLETED, 7
            attempt.ended_at = clock.now()
        await uow.attempts.save_many(list(attempts.values()))
        await uow.commit()
    async with store.unit() as uow:
        keys = await uow.attempts.event_keys([ids[0]])
        both = await uow.attempts.event_keys(ids)
        # A repeat of a stored event is kept once; record_event says it was there.
        assert not await uow.attempts.record_event(ids[0], answered, "ANSWERED", clock.now())
        saved = await uow.attempts.get_many(ids)
        leads = await uow.leads.get_many([a.lead_id for a in saved.values()], lock=True)
    assert keys == {(ids[0], answered.dedupe_key)}
    assert both == {(ids[0], answered.dedupe_key), (ids[1], ended.dedupe_key)}
    assert {a.status for a in saved.values()} == {AttemptStatus.COMPLETED}
    assert {a.duration for a in saved.values()} == {7}
    assert sorted(leads) == sorted(a.lead_id for a in saved.values())
    assert {lead.status for lead in leads.values()} == {LeadStatus.DIALING}


async def test_who_answered_is_kept_with_the_attempt(store: Store, clock: ManualClock) -> None:
    campaign = await with_leads(store, clock, [draft(1), draft(2)])
    ids = await dial(store, clock, campaign, 2)
    async with store.unit() as uow:
        attempts = await uow.attempts.get_many(ids, lock=True)
        assert {a.answered_by for a in attempts.values()} == {None}
        first, second = attempts[ids[0]], attempts[ids[1]]
        first.status, first.answered_by = AttemptStatus.MACHINE, AnsweredBy.MACHINE
        await uow.attempts.save(first)
        second.answered_by = AnsweredBy.HUMAN
        await uow.attempts.save_many([second])
        await uow.commit()
    async with store.unit() as uow:
        saved = await uow.attempts.get_many(ids)
    assert (saved[ids[0]].status, saved[ids[0]].answered_by) == (
        AttemptStatus.MACHINE,
        AnsweredBy.MACHINE,
    )
    assert saved[ids[1]].answered_by is AnsweredBy.HUMAN
