"""End to end: 4 dispatcher processes share one Redis admission against the simulator. Two
campaigns of one tenant ring the same numbers; the provider's own observer must see peak
concurrency exactly at the global cap, each campaign within its cap, no overlapping calls to
one number and no re-origination; once the calls end, no lease is left behind."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from queue import Empty
from typing import Any

import httpx
import pytest

from dialer.adapters.admission.redis import RedisAdmission
from dialer.bootstrap import open_runtime
from dialer.cli.simproc import simulator_process
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.ports import ContactDraft
from dialer.services.campaigns import create_campaign, pause_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.context import Services
from tests.support.dispatchers import DispatcherJob, run_dispatcher, settings_for
from tests.support.redis import REDIS_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DISPATCHERS = 4
GLOBAL_CAP = 8
CAMPAIGN_CAP = 6
NUMBERS = 60
RUN_SECONDS = 8.0
SIM_ARGS = ["--speed", "20", "--cps", "1000", "--seed", "5"]


async def wait_for(
    queue: Any, kind: str, processes: list[Any], seconds: float
) -> list[tuple[Any, ...]]:
    """Every dispatcher's ``kind`` message; fails at once when one of them died."""
    got: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + seconds
    while len(got) < len(processes):
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(got)} of {len(processes)} dispatchers said {kind!r}")
        try:
            message = queue.get_nowait()
        except Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            assert not dead, f"a dispatcher process failed (exit codes {dead})"
            await asyncio.sleep(0.1)
            continue
        if message[0] == kind:
            got.append(message)
    return got


async def live_attempts(services: Services) -> int:
    async with services.store.unit() as uow:
        return await uow.views.live_attempts()


async def drained(services: Services, seconds: float) -> int:
    """Wait (bounded) until no attempt is live; how many still are."""
    for _ in range(int(seconds / 0.2)):
        if not await live_attempts(services):
            return 0
        await asyncio.sleep(0.2)
    return await live_attempts(services)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_four_dispatchers_hold_the_cap_exactly(database_url: str, namespace: str) -> None:
    context = multiprocessing.get_context("spawn")
    stop, queue = context.Event(), context.Queue()
    drafts = [
        ContactDraft(f"+1212555{i:04d}", zone_key(("America/New_York",))) for i in range(NUMBERS)
    ]
    with simulator_process(SIM_ARGS) as sim_url:
        settings = settings_for(database_url, sim_url, GLOBAL_CAP)
        async with open_runtime(settings) as runtime:
            services = runtime.services
            campaigns = []
            for name in ("a", "b"):
                campaign_settings = CampaignSettings(
                    name,
                    "+14155550100",
                    max_concurrency=CAMPAIGN_CAP,
                    retry=RetryPolicy(1),
                    ramp_up=0,
                )
                campaign = await create_campaign(services, "acme", campaign_settings)
                await import_drafts(services, campaign.id, drafts)
                campaigns.append(campaign)
            jobs = [
                DispatcherJob(
                    n, database_url, REDIS_URL, namespace, sim_url, GLOBAL_CAP, 60.0, stop, queue
                )
                for n in range(DISPATCHERS)
            ]
            processes = [context.Process(target=run_dispatcher, args=(job,)) for job in jobs]
            for process in processes:
                process.start()
            try:
                await wait_for(queue, "ready", processes, 60)
                for campaign in campaigns:
                    await start_campaign(services, campaign.id)
                await asyncio.sleep(RUN_SECONDS)
                for campaign in campaigns:
                    await pause_campaign(services, campaign.id)
                left = await drained(services, 30)
                stop.set()
                done = await wait_for(queue, "done", processes, 30)
            finally:
                stop.set()
                for process in processes:
                    process.join(timeout=15)
                    if process.is_alive():
                        process.kill()
                        process.join()
        async with httpx.AsyncClient(base_url=sim_url) as client:
            stats = (await client.get("/_sim/stats")).json()
    admission = RedisAdmission.from_url(REDIS_URL, namespace=namespace)
    try:
        usage = await admission.usage()
    finally:
        await admission.aclose()

    totals: Counter[str] = Counter()
    for _, _, counts in done:
        totals.update(counts)
    print(
        f"\nsimulator: {stats['calls_created']} calls, peak {stats['peak_active']}, "
        f"by campaign {stats['peak_active_by_campaign']}; dispatchers: {dict(totals)}"
    )
    assert left == 0
    assert stats["peak_active"] == GLOBAL_CAP
    assert all(peak <= CAMPAIGN_CAP for peak in stats["peak_active_by_campaign"].values())
    assert stats["overlapping_calls_to_same_number"] == 0
    assert stats["repeated_originations"] == 0
    assert stats["calls_created"] == totals["originated"] > 3 * GLOBAL_CAP
    assert totals["number_busy"] > 0  # the two campaigns did contend for numbers
    assert usage.global_active == 0  # every lease came back
    assert all(p.exitcode == 0 for p in processes)
