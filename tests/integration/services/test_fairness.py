"""Priority and fairness under a binding global cap, counted per campaign by the simulator."""

from __future__ import annotations

import asyncio

from dialer.domain.model import CampaignSettings
from dialer.services.campaigns import start_campaign
from tests.support.engine import Engine, EngineFactory, contacts, sim_config

LONG_CALLS = sim_config(outcome_mix={"answer": 1.0}, talk_mean=450.0, ring_max=2.0)


def campaign(name: str, **changes: object) -> CampaignSettings:
    base: dict[str, object] = {
        "name": name,
        "caller_id": "+14155550100",
        "max_concurrency": 8,
        "ring_timeout": 10,
        "max_call_duration": 500,
        "ramp_up": 0,
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def fill(e: Engine, ticks: int = 10) -> dict[str, int]:
    for _ in range(ticks):
        await e.runtime.dispatcher.run_once()
        await asyncio.sleep(0.01)
    await e.runtime.executor.drain()
    await asyncio.sleep(0.05)
    by_campaign: dict[str, int] = (await e.stats())["peak_active_by_campaign"]
    return by_campaign


async def test_equal_priorities_share_the_global_cap_by_weight(engine: EngineFactory) -> None:
    async with engine(sim=LONG_CALLS, global_max_concurrency=8, campaign_max_concurrency=8) as e:
        light = await e.campaign(campaign("light", weight=1), contacts(20))
        heavy = await e.campaign(campaign("heavy", weight=3), contacts(20, prefix="+1213"))
        for created in (light, heavy):
            await start_campaign(e.runtime.services, created.id)
        peaks = await fill(e)
    assert peaks == {str(light.id): 2, str(heavy.id): 6}


async def test_equal_weights_split_evenly_whoever_comes_first(engine: EngineFactory) -> None:
    async with engine(sim=LONG_CALLS, global_max_concurrency=8, campaign_max_concurrency=8) as e:
        first = await e.campaign(campaign("first"), contacts(20))
        second = await e.campaign(campaign("second"), contacts(20, prefix="+1213"))
        for created in (first, second):
            await start_campaign(e.runtime.services, created.id)
        peaks = await fill(e)
    assert peaks == {str(first.id): 4, str(second.id): 4}


async def test_higher_priority_is_served_first(engine: EngineFactory) -> None:
    async with engine(sim=LONG_CALLS, global_max_concurrency=8, campaign_max_concurrency=8) as e:
        low = await e.campaign(campaign("low", priority=1), contacts(20))
        high = await e.campaign(campaign("high", priority=9), contacts(20, prefix="+1213"))
        for created in (low, high):
            await start_campaign(e.runtime.services, created.id)
        peaks = await fill(e)
    assert peaks == {str(high.id): 8}  # the low one waits while the high one has work


async def test_a_share_left_unused_goes_to_the_campaign_with_work(engine: EngineFactory) -> None:
    """One tick: the campaign with a single lead takes 1 of its quantum of 8; the 7 it leaves
    go to the other one in the same tick, instead of waiting for the next (a campaign whose
    calls are over, its message steps still running, must not halve the others' pace)."""
    async with engine(sim=LONG_CALLS, global_max_concurrency=16, campaign_max_concurrency=16) as e:
        nearly_done = await e.campaign(campaign("nearly done"), contacts(1))
        busy = await e.campaign(campaign("busy", max_concurrency=16), contacts(20, prefix="+1213"))
        for created in (nearly_done, busy):
            await start_campaign(e.runtime.services, created.id)
        peaks = await fill(e, ticks=1)
    assert peaks == {str(nearly_done.id): 1, str(busy.id): 15}
