"""Ramp-up paces only the filling of the cap from idle: once ``ramp_up`` seconds have passed
since the campaign started (or resumed), its cap governs. A campaign of short calls must reach
its cap, which a permanent start rate of cap / ramp_up would never allow. Counted by the
simulator's observer, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from dialer.runner import run_to_end
from dialer.services.campaigns import cancel_campaign
from tests.support.engine import EngineFactory, contacts, settings, sim_config

UNANSWERED = {"speed": 2.0, "setup_time": 0.2, "outcome_mix": {"no_answer": 1.0}}


async def test_a_campaign_of_short_calls_reaches_its_cap_after_the_ramp(
    engine: EngineFactory,
) -> None:
    """Cap 25, no rate, the default 10 s ramp. Every call rings out after 6 s, so a start
    rate of 25 / 10 s would keep at most about 17 live, never 25. After the ramp the cap is
    reached within seconds (the webhooks of ended calls take their time to free slots)."""
    async with engine(sim=sim_config(**UNANSWERED)) as e:
        campaign = await e.campaign(settings(max_concurrency=25, ring_timeout=6), contacts(400))
        began = e.clock.now()
        run = asyncio.create_task(run_to_end(e.runtime, campaign.id))
        peak = 0
        while peak < 25 and (e.clock.now() - began).total_seconds() < 30:
            await asyncio.sleep(0.05)
            peak = (await e.stats())["peak_active"]
        reached_after = (e.clock.now() - began).total_seconds()
        await cancel_campaign(e.runtime.services, campaign.id)
        await asyncio.wait_for(run, 30)
        stats = await e.stats()
    assert stats["peak_active"] == 25, f"peak {stats['peak_active']} in {reached_after:.0f} s"
    assert reached_after < 30
