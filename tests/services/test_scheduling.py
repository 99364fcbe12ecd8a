"""Scheduling rules through the real engine: a contact's quiet hours, segments by tag,
start_at / end_at, and calls only inside each contact's window (counted by the simulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaign_file import settings_from_yaml
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.statuses import CampaignStatus, LeadStatus
from dialer.domain.window import parse_ranges
from dialer.errors import InvalidInput
from dialer.ports import ContactDraft
from dialer.services.campaigns import start_campaign
from dialer.services.contacts import import_contacts
from tests.conftest import T0
from tests.services.conftest import EngineFactory
from tests.services.test_engine import lead_rows

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
            status = (await uow.get_campaign(created.id)).status
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
