"""Scheduling rules through the real engine: a contact's quiet hours, segments by tag,
start_at / end_at, and calls only inside each contact's window (counted by the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.campaign_document import settings_from_yaml
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.safety import NumberPolicy
from dialer.domain.statuses import CampaignStatus, LeadStatus
from dialer.domain.window import CallingWindow, parse_clock, parse_ranges
from dialer.errors import InvalidInput
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.contacts import import_contacts
from dialer.services.safety import add_to_do_not_call, set_policy
from tests.support.clock import T0
from tests.support.engine import Engine, EngineFactory, lead_rows, sim_config
from tests.support.polling import until

NY = "America/New_York"  # T0 is 10:00 in New York


def person(n: int, quiet: str = "", tags: tuple[str, ...] = ()) -> ContactDraft:
    return ContactDraft(
        f"+1212{3000000 + n}", zone_key((NY,)), tags=tags, quiet_hours=parse_ranges(quiet)
    )


def settings(**changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": "sched",
        "caller_id": "+14155550100",
        "max_concurrency": 10,
        "ring_timeout": 10,
        "max_call_duration": 60,
        "ramp_up": 0,  # these tests are about when, not how fast
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def test_a_contacts_quiet_hours_hold_their_call(engine: EngineFactory) -> None:
    async with engine() as e:
        people = [person(1, "09:00-11:00"), person(2, "12:00-13:00"), person(3)]
        created = await e.campaign(settings(), people)
        await start_campaign(e.runtime.services, created.id)
        report = await e.runtime.dispatcher.run_once()
        await e.runtime.executor.drain()
        rows = {r["phone"]: r for r in await lead_rows(e, created.id)}
    assert report.originated == 2
    assert report.refused["quiet_hours"] == 1
    held = rows[people[0].phone]
    assert held["attempts"] == 0
    assert held["next_attempt_at"] == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)  # 11:00 NY


async def test_only_the_campaigns_segment_is_added(engine: EngineFactory) -> None:
    csv_lines = [
        "phone,tags\n",
        "+12125550101,vip;east\n",
        "+12125550102,east\n",
        "+12125550103,vip\n",
        "+12125550104,\n",
    ]
    async with engine() as e:
        created = await e.campaign(settings(tags=("vip",)), [])
        report = await import_contacts(e.runtime.services, created.id, lambda: csv_lines)
        rows = await lead_rows(e, created.id)
    assert (report.accepted, report.added, report.outside_segment) == (4, 2, 2)
    assert sorted(r["phone"] for r in rows) == ["+12125550101", "+12125550103"]


async def test_nothing_is_dialled_before_start_at(engine: EngineFactory) -> None:
    async with engine() as e:
        later = settings(start_at=T0 + timedelta(hours=1))
        created = await e.campaign(later, [person(1)])
        await start_campaign(e.runtime.services, created.id)
        assert (await e.runtime.dispatcher.run_once()).originated == 0
        e.clock.start += timedelta(hours=1)
        assert (await e.runtime.dispatcher.run_once()).originated == 1
        await e.runtime.executor.drain()


async def test_at_end_at_waiting_leads_are_skipped_and_the_campaign_completes(
    engine: EngineFactory,
) -> None:
    async with engine() as e:
        over = settings(end_at=T0 + timedelta(minutes=1))
        created = await e.campaign(over, [person(1), person(2)])
        await start_campaign(e.runtime.services, created.id)
        e.clock.start += timedelta(minutes=2)
        await e.runtime.dispatcher.run_once()
        rows = await lead_rows(e, created.id)
        async with e.store.unit() as uow:
            status = (await uow.campaigns.get(created.id)).status
        stats = await e.stats()
    assert {r["status"] for r in rows} == {LeadStatus.SKIPPED.value}
    assert status is CampaignStatus.COMPLETED
    assert stats["calls_created"] == 0


def test_campaign_dates_must_be_aware_and_ordered() -> None:
    base = 'name: a\ncaller_id: "+14155550100"\n'
    with pytest.raises(InvalidInput) as naive:
        settings_from_yaml(base + "start_at: 2026-12-01T09:00:00\n")
    assert naive.value.problems[0].location == "start_at"
    with pytest.raises(InvalidInput) as backwards:
        settings_from_yaml(base + "start_at: 2026-12-02T09:00:00Z\nend_at: 2026-12-01T09:00:00Z\n")
    assert "end_at must be after start_at" in str(backwards.value)
    ok = settings_from_yaml(
        base + 'start_at: "2026-12-01T09:00:00-05:00"\nsegment: {tags: [vip]}\n'
    )
    assert ok.start_at == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert ok.tags == ("vip",)


async def all_dialled(e: Engine, numbers: list[str], times: int) -> bool:
    """Whether the simulator has seen ``times`` calls to each of ``numbers``."""
    starts = (await e.stats())["call_starts"]
    return all(len(starts.get(number, ())) >= times for number in numbers)


async def test_across_a_window_boundary_the_provider_sees_only_allowed_calls(
    engine: EngineFactory,
) -> None:
    """Simulated time runs through New York's 21:00 close while Los Angeles stays open.
    Every call is busy and retried; the tenant allows 3 attempts per number per day; two
    numbers are on the do-not-call list. The simulator's own record (each call's start on its
    clock, per number) shows no call outside the contact's window, no number over the cap and
    no listed number. The grace at the close is the time a create takes to reach the
    provider (a few simulated seconds at this speed)."""
    start = datetime(2026, 3, 4, 1, 40, tzinfo=UTC)  # 20:40 in New York, 17:40 in LA
    window = CallingWindow.daily(range(7), parse_clock("08:00"), parse_clock("21:00"))
    new_york = [person(n) for n in range(12)]
    los_angeles = [
        ContactDraft(f"+1213{4000000 + n}", zone_key(("America/Los_Angeles",))) for n in range(12)
    ]
    listed = [new_york[0].phone, los_angeles[0].phone]
    retry = RetryPolicy(10, {Outcome.BUSY: FixedDelays((1200,))})  # every 20 minutes
    # 120x: a second of the machine's stall is two simulated minutes, well inside the
    # 20-minute retries and the 3 h 20 min Los Angeles has left (faster, a loaded machine's
    # stalls could push the third attempt past its close).
    sim = sim_config(outcome_mix={"busy": 1.0}, speed=120.0, busy_ring=2.0)
    async with engine(sim=sim, start=start) as e:
        await set_policy(e.store, "acme", {"number_max_attempts": 3}, NumberPolicy())
        await add_to_do_not_call(e.store, "acme", [("line 1", p, None) for p in listed])
        created = await e.campaign(
            settings(window=window, retry=retry, max_concurrency=4), new_york + los_angeles
        )
        run = asyncio.create_task(run_to_end(e.runtime, created.id))
        try:
            # Until every callable Los Angeles number has had its 3 attempts of the day
            # (20:40, 21:00, 21:20 New York time): the run has crossed New York's close.
            callable_la = [p.phone for p in los_angeles if p.phone not in listed]
            await until(lambda: all_dialled(e, callable_la, 3), 240, "3 calls to each LA number")
        finally:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        await e.runtime.executor.drain()
        stats = await e.stats()
    starts = {n: [datetime.fromisoformat(t) for t in ts] for n, ts in stats["call_starts"].items()}
    assert not set(starts) & set(listed)
    assert max(len(ts) for ts in starts.values()) <= 3
    grace = timedelta(seconds=60)  # 500 ms of real time for a create to reach the provider
    zones = {p.phone: NY for p in new_york} | {p.phone: "America/Los_Angeles" for p in los_angeles}
    for number, moments in starts.items():
        for moment in moments:
            local = moment.astimezone(ZoneInfo(zones[number]))
            opened = local.replace(hour=8, minute=0, second=0, microsecond=0)
            closed = local.replace(hour=21, minute=0, second=0, microsecond=0)
            assert opened <= local <= closed + grace, (number, local)
    ny_close = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    after_close = [m for n, ms in starts.items() for m in ms if m > ny_close + grace]
    assert after_close  # the run went past the close, and Los Angeles kept being called
    assert all(zones[n] != NY for n, ms in starts.items() for m in ms if m > ny_close + grace)
