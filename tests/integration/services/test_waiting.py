"""Why nothing is dialled: the waiting reasons of a campaign's due leads, with counts and the
next moment anything can be dialled. End to end on SQLite and PostgreSQL (the grouped query,
the reasons the dispatcher records), and the reasoning itself on plain groups."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from dialer.domain.model import Campaign
from dialer.domain.phone import zone_key
from dialer.domain.statuses import CampaignStatus, LeadStatus
from dialer.domain.window import CallingWindow, parse_clock
from dialer.ports import WaitingGroup
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.progress import campaign_progress
from dialer.services.tenants import set_limits
from dialer.services.waiting import Lines, Reason, Waiting, explain
from tests.support.clock import T0
from tests.support.engine import EngineFactory, contacts, settings, sim_config

CHICAGO = "America/Chicago"
WORKDAY = CallingWindow.daily(range(5), parse_clock("09:00"), parse_clock("17:00"))


async def test_two_campaigns_sharing_numbers_wait_on_the_frequency_cap(
    engine: EngineFactory,
) -> None:
    """The default number policy (a 24 h cool-down after a conversation): once the first
    campaign has talked to every number, the second cannot call them before tomorrow, and
    says so instead of showing pending leads and 0 calls/s."""
    async with engine(sim=sim_config(outcome_mix={"answer": 1.0}, talk_mean=2.0)) as e:
        first = await e.campaign(settings(name="first", ramp_up=0), contacts(4))
        await asyncio.wait_for(run_to_end(e.runtime, first.id), 60)
        second = await e.campaign(settings(name="second", ramp_up=0), contacts(4))
        await start_campaign(e.runtime.services, second.id)
        for _ in range(3):
            await e.runtime.dispatcher.run_once()
        now = e.clock.now()
        progress = await campaign_progress(e.store, second.id, now)
    assert progress.leads == {LeadStatus.PENDING: 4}
    [wait] = progress.waiting
    assert (wait.reason, wait.leads) == (Reason.FREQUENCY_CAP, 4)
    assert wait.until is not None
    assert timedelta(hours=23) < wait.until - now <= timedelta(hours=24)
    [line] = progress.waiting_lines()
    assert line.startswith("4 leads wait on the frequency cap / cool-down until ")


async def test_a_full_tenant_cap_is_named(engine: EngineFactory) -> None:
    """The tenant's own cap (``dialer limits``) holds the campaign below its own cap."""
    async with engine(sim=sim_config(outcome_mix={"answer": 1.0}, talk_mean=600.0)) as e:
        campaign = await e.campaign(settings(name="held", ramp_up=0), contacts(5))
        await set_limits(e.store, "acme", {"max_concurrency": 2})
        await start_campaign(e.runtime.services, campaign.id)
        for _ in range(3):
            await e.runtime.dispatcher.run_once()
        progress = await campaign_progress(e.store, campaign.id, e.clock.now())
    assert progress.live_calls == 2
    [wait] = progress.waiting
    assert (wait.reason, wait.leads, wait.detail) == (Reason.CAP_FULL, 3, "tenant cap 2")


async def test_a_closed_window_names_the_zone_and_its_next_opening(
    engine: EngineFactory,
) -> None:
    """08:00 in Chicago, the window opens at 09:00 local: the leads wait for it."""
    start = T0 - timedelta(hours=1)  # T0 is 09:00 in Chicago
    async with engine(start=start) as e:
        drafts = contacts(3, zone=CHICAGO, prefix="+1312")
        campaign = await e.campaign(settings(window=WORKDAY), drafts)
        await start_campaign(e.runtime.services, campaign.id)
        await e.runtime.dispatcher.run_once()
        progress = await campaign_progress(e.store, campaign.id, e.clock.now())
    [wait] = progress.waiting
    assert (wait.reason, wait.leads, wait.zone, wait.until) == (
        Reason.WINDOW_CLOSED,
        3,
        CHICAGO,
        T0,
    )
    [line] = progress.waiting_lines()
    assert line.startswith("3 leads wait for their window — next opens 09:00 America/Chicago (in ")


# ---------------------------------------------------------------- the reasoning alone


def _campaign(status: CampaignStatus = CampaignStatus.RUNNING, **changes: object) -> Campaign:
    base = settings(window=WORKDAY, max_concurrency=25, **changes)
    return Campaign(1, 1, base, status, updated_at=T0 - timedelta(hours=1))


def _group(
    n: int,
    *,
    zone: str = CHICAGO,
    status: LeadStatus = LeadStatus.PENDING,
    on: str | None = None,
    at: datetime | None = None,
) -> WaitingGroup:
    return WaitingGroup(zone_key((zone,)), status, on, at is None or at <= T0, n, at)


IDLE = Lines(campaign_live=0, campaign_cap=25)


def test_each_due_lead_is_counted_under_one_reason() -> None:
    later = T0 + timedelta(minutes=10)
    groups = [
        _group(18, zone="Europe/Paris"),  # 16:00 in Paris: open
        _group(2, at=later, on="number_policy"),
        _group(5, status=LeadStatus.WAITING_RETRY, at=later + timedelta(minutes=5)),
        _group(1, at=later, on="number_lock"),
    ]
    waits = explain(_campaign(ramp_up=0), groups, IDLE, T0)
    assert waits == [
        Waiting(Reason.READY, 18, T0),
        Waiting(Reason.FREQUENCY_CAP, 2, later),
        Waiting(Reason.NUMBER_LOCK, 1, later),
        Waiting(Reason.RETRY, 5, later + timedelta(minutes=5)),
    ]


def test_a_paused_campaign_holds_every_due_lead() -> None:
    waits = explain(_campaign(CampaignStatus.PAUSED), [_group(20)], IDLE, T0)
    assert waits == [Waiting(Reason.PAUSED, 20, detail="paused")]
    assert waits[0].message(T0) == "20 leads wait — the campaign is paused"


def test_a_campaign_not_started_yet_waits_for_its_start() -> None:
    begins = T0 + timedelta(hours=2)
    [wait] = explain(_campaign(start_at=begins), [_group(20)], IDLE, T0)
    assert (wait.reason, wait.until) == (Reason.NOT_STARTED, begins)
    assert wait.message(T0) == "20 leads wait for the campaign's start at 17:00 UTC (in 2 h)"


def test_a_full_cap_is_named() -> None:
    full = Lines(campaign_live=25, campaign_cap=25)
    [wait] = explain(_campaign(), [_group(20)], full, T0)
    assert wait.message(T0) == "20 leads wait for a free line: the campaign cap 25 is full"
    busy = Lines(campaign_live=3, campaign_cap=25, global_live=100, global_cap=100)
    [wait] = explain(_campaign(), [_group(20)], busy, T0)
    assert (wait.reason, wait.detail) == (Reason.CAP_FULL, "global cap 100")
    tenant = Lines(campaign_live=2, campaign_cap=25, tenant_live=2, tenant_cap=2)
    [wait] = explain(_campaign(), [_group(20)], tenant, T0)
    assert wait.message(T0) == "20 leads wait for a free line: the tenant cap 2 is full"


def test_the_ramp_is_the_pace_until_it_ends() -> None:
    ramping = dataclasses.replace(_campaign(), updated_at=T0 - timedelta(seconds=4))
    [wait] = explain(ramping, [_group(20)], IDLE, T0)
    assert (wait.reason, wait.until) == (Reason.PACE, T0 + timedelta(seconds=6))
    assert "ramp-up, 2.5 starts/s" in wait.message(T0)
    [after] = explain(_campaign(), [_group(20)], IDLE, T0)
    assert after.reason is Reason.READY


def test_a_window_that_never_opens_says_so() -> None:
    never = CallingWindow.daily([], 0, 3600)
    campaign = Campaign(1, 1, settings(window=never), CampaignStatus.RUNNING)
    [wait] = explain(campaign, [_group(2)], IDLE, datetime(2026, 3, 3, 12, tzinfo=UTC))
    assert wait.until is None
    assert "never opens in America/Chicago" in wait.message(T0)
