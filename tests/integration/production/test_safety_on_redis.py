"""Contact-safety rules on the production path (PostgreSQL + Redis admission): do-not-call at
dial time, frequency cap and cool-down across campaigns, quiet hours, a tenant cap.
Counted by the simulator's observer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.safety import NumberPolicy
from dialer.domain.window import CallingWindow, parse_ranges
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.safety import add_to_do_not_call, set_policy
from dialer.services.tenants import set_limits
from tests.support.engine import Engine, contacts, lead_rows, sim_config

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
Production = Callable[..., AbstractAsyncContextManager[Engine]]
ANSWER = sim_config(outcome_mix={"answer": 1.0}, speed=200.0)


def campaign(name: str, **changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 5,
        "ring_timeout": 10,
        "max_call_duration": 60,
        "ramp_up": 0,
        "window": CallingWindow.always(),
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def ticks(e: Engine, n: int, pause: float = 0.05) -> None:
    for _ in range(n):
        await e.runtime.dispatcher.run_once()
        await asyncio.sleep(pause)
    await e.runtime.executor.drain()


async def test_do_not_call_on_redis(production: Production) -> None:
    async with production(sim=ANSWER) as e:
        people = contacts(5)
        created = await e.campaign(campaign("dnc"), people)
        await add_to_do_not_call(e.store, "acme", [("line 1", people[0].phone, None)])
        await add_to_do_not_call(e.store, "x", [("line 1", people[1].phone, None)], is_global=True)
        await asyncio.wait_for(run_to_end(e.runtime, created.id), 60)
        stats = await e.stats()
    assert set(stats["calls_per_number"]) == {p.phone for p in people[2:]}


async def test_frequency_cap_and_cooldown_on_redis(production: Production) -> None:
    busy = {p.phone: "busy" for p in contacts(3)}
    retry = RetryPolicy(5, {Outcome.BUSY: FixedDelays((1,))})  # one real second
    async with production(sim=sim_config(outcome_overrides=busy, speed=200.0)) as e:
        await set_policy(
            e.store,
            "acme",
            {"number_max_attempts": 3, "number_window_seconds": 3600},
            NumberPolicy(),
        )
        first = await e.campaign(campaign("first", retry=retry), contacts(3))
        second = await e.campaign(campaign("second", retry=retry), contacts(3))
        for created in (first, second):
            await start_campaign(e.runtime.services, created.id)
        await ticks(e, 80)  # 4 s: several retry delays
        stats = await e.stats()
    assert max(stats["calls_per_number"].values()) == 3
    assert stats["overlapping_calls_to_same_number"] == 0


async def test_cooldown_after_a_conversation_on_redis(production: Production) -> None:
    async with production(sim=ANSWER) as e:
        talked = await e.campaign(campaign("talked"), contacts(3))
        await asyncio.wait_for(run_to_end(e.runtime, talked.id), 60)
        later = await e.campaign(campaign("later"), contacts(3))
        await start_campaign(e.runtime.services, later.id)
        await ticks(e, 10)
        stats = await e.stats()
        rows = await lead_rows(e, later.id)
    assert set(stats["calls_per_number"].values()) == {1}
    wait = min(r["next_attempt_at"] for r in rows) - datetime.now(UTC)  # type: ignore[operator]
    assert timedelta(hours=23) < wait <= timedelta(hours=24)


def zone_away_from_midnight() -> tuple[str, datetime]:
    """A zone whose local time is well inside its day, so a quiet hour around it is one range."""
    for name in ("UTC", "Asia/Tokyo", "America/New_York"):
        local = datetime.now(ZoneInfo(name))
        if 1 <= local.hour <= 22:
            return name, local
    raise AssertionError("one of three zones 9 and 5 hours apart is always mid-day")


async def test_quiet_hours_on_redis(production: Production) -> None:
    zone, local = zone_away_from_midnight()
    quiet = parse_ranges(
        f"{local - timedelta(minutes=30):%H:%M}-{local + timedelta(minutes=30):%H:%M}"
    )
    people = [ContactDraft("+12125550177", zone_key((zone,)), quiet_hours=quiet)]
    people += contacts(2)
    async with production(sim=ANSWER) as e:
        created = await e.campaign(campaign("quiet"), people)
        await start_campaign(e.runtime.services, created.id)
        await ticks(e, 5)
        stats = await e.stats()
    assert "+12125550177" not in stats["calls_per_number"]
    assert len(stats["calls_per_number"]) == 2


async def test_tenant_cap_on_redis(production: Production) -> None:
    long_calls = sim_config(outcome_mix={"answer": 1.0}, talk_mean=400.0, speed=50.0)
    async with production(sim=long_calls, lease_ttl_seconds=600) as e:
        await set_limits(e.store, "acme", {"max_concurrency": 4})
        one = await e.campaign(campaign("one", max_call_duration=500), contacts(8))
        two = await e.campaign(campaign("two", max_call_duration=500), contacts(8, prefix="+1213"))
        for created in (one, two):
            await start_campaign(e.runtime.services, created.id)
        await ticks(e, 10)
        stats = await e.stats()
    assert stats["peak_active"] == 4
