"""Caps and rates at every level — global, tenant, campaign; per second, minute, hour —
through the real engine, counted by the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.domain.model import CampaignSettings, Rate
from dialer.errors import InvalidInput
from dialer.services.campaigns import start_campaign
from dialer.services.tenants import set_limits
from tests.support.engine import Engine, EngineFactory, attempt_rows, contacts, sim_config

LONG_CALLS = sim_config(outcome_mix={"answer": 1.0}, talk_mean=450.0, ring_max=2.0)


def campaign(name: str, **changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 5,
        "ring_timeout": 10,
        "max_call_duration": 500,
        "ramp_up": 0,
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def tick(e: Engine, times: int, pause: float = 0.01) -> None:
    for _ in range(times):
        await e.runtime.dispatcher.run_once()
        await asyncio.sleep(pause)
    await e.runtime.executor.drain()


async def starts_over(e: Engine, campaign_id: int) -> tuple[int, float]:
    rows = await attempt_rows(e, campaign_id)
    times = sorted(r["created_at"] for r in rows)  # type: ignore[type-var]
    span = (times[-1] - times[0]).total_seconds() if times else 0.0  # type: ignore[operator]
    return len(rows), span


async def test_a_tenant_cap_holds_across_its_campaigns(engine: EngineFactory) -> None:
    async with engine(sim=LONG_CALLS) as e:
        await set_limits(e.store, "acme", {"max_concurrency": 3})
        first = await e.campaign(campaign("one"), contacts(10))
        second = await e.campaign(campaign("two"), contacts(10, prefix="+1213"))
        for created in (first, second):
            await start_campaign(e.runtime.services, created.id)
        await tick(e, 10)
        await asyncio.sleep(0.05)
        stats = await e.stats()
    assert stats["peak_active"] == 3  # not 5 + 5
    usage = sum(stats["peak_active_by_campaign"].values())
    assert usage >= 3


async def test_tenant_limits_are_validated(engine: EngineFactory) -> None:
    async with engine() as e:
        with pytest.raises(InvalidInput) as caught:
            await set_limits(e.store, "acme", {"max_concurrency": 0, "rate_per_day": 5})
    assert sorted(p.location for p in caught.value.problems) == ["max_concurrency", "rate_per_day"]


async def test_a_per_minute_rate_paces_a_campaign(engine: EngineFactory) -> None:
    """30 a minute = one every 2 simulated seconds (speed 100: 0.02 s real)."""
    async with engine(sim=LONG_CALLS) as e:
        paced = campaign("paced", max_concurrency=50, rate_per_minute=Rate.per_period(30, 60))
        created = await e.campaign(paced, contacts(40))
        await start_campaign(e.runtime.services, created.id)
        await tick(e, 25)
        count, span = await starts_over(e, created.id)
    assert count >= 5
    assert count <= 1 + span / 2 + 1e-6  # the burst of one, then one per 2 s


async def test_a_global_rate_from_settings_paces_everyone(engine: EngineFactory) -> None:
    async with engine(sim=LONG_CALLS, global_rate_per_second=1.0, global_rate_burst=2) as e:
        one = await e.campaign(campaign("one", max_concurrency=50), contacts(30))
        two = await e.campaign(campaign("two", max_concurrency=50), contacts(30, prefix="+1213"))
        for created in (one, two):
            await start_campaign(e.runtime.services, created.id)
        await tick(e, 25)
        a, span_a = await starts_over(e, one.id)
        b, span_b = await starts_over(e, two.id)
    assert a > 0
    assert b > 0
    assert a + b <= 2 + max(span_a, span_b) * 1.0 + 1


def test_campaign_file_rates_per_minute_and_hour() -> None:
    text = 'name: r\ncaller_id: "+14155550100"\nrate: {per_minute: 300, per_hour: 5000}\n'
    settings = settings_from_yaml(text)
    assert settings.rate is None
    assert settings.rate_per_minute == Rate.per_period(300, 60)
    assert settings.rate_per_hour == Rate.per_period(5000, 3600)
    assert settings_from_mapping(settings_to_mapping(settings)) == settings
    assert len(settings.pacing) == 2  # per minute, per hour
    assert settings.ramp is not None  # no rate per second: the start is ramped


@pytest.mark.parametrize(
    ("rate", "message"),
    [({}, "give per_second, per_minute or per_hour"), ({"burst": 5, "per_minute": 10}, "burst")],
)
def test_campaign_file_rate_errors(rate: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        settings_from_mapping({"name": "r", "caller_id": "+14155550100", "rate": rate})
    assert any(message in p.message and p.location == "rate" for p in caught.value.problems)
