"""Backpressure: past the senders' capacity, the dispatcher stops claiming instead of handing
out calls nobody is sending yet. The engine end to end, on SQLite and PostgreSQL, with an
executor that holds every batch back until told to deliver it (senders that have fallen
behind, or a worker that died holding its jobs).

What must hold: at most DIALER_DISPATCH_MAX_UNSENT attempts admitted and unsent (plus one
batch per other dispatcher racing), the excess waits as due leads with their attempts unspent,
nothing errors, and claiming resumes as soon as sends complete or stranded attempts are
withdrawn."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from dialer import metrics
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports import Executor, Origination
from dialer.runner import run_to_end
from dialer.services.campaigns import start_campaign
from dialer.services.dispatch import SENDERS_BEHIND, Dispatcher, TickReport
from dialer.services.housekeeping import withdraw_unsent
from tests.support.engine import (
    Engine,
    EngineFactory,
    attempt_rows,
    contacts,
    lead_rows,
    settings,
    sim_config,
)

LIMIT = 6  # DIALER_DISPATCH_MAX_UNSENT in these tests
BATCH = 4  # DIALER_DISPATCH_BATCH_SIZE: smaller than the limit, so a tick may claim twice
QUICK_CALLS = sim_config(speed=1.0, outcome_mix={"busy": 1.0}, busy_ring=0.2, setup_time=0.1)


class HoldingExecutor:
    """Takes batches and sends none of them until ``deliver()`` hands them to ``inner``."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.held: list[Origination] = []

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.held += batch

    async def deliver(self) -> None:
        held, self.held = self.held, []
        await self.inner.submit(held)
        await self.inner.drain()

    async def drain(self) -> None:
        await self.deliver()


async def unsent(e: Engine) -> int:
    async with e.store.unit() as uow:
        return await uow.views.unsent_attempt_count()


async def held_campaign(e: Engine, leads: int) -> tuple[int, HoldingExecutor]:
    one_try = settings(max_concurrency=100, ramp_up=0, retry=RetryPolicy(1))
    campaign = await e.campaign(one_try, contacts(leads))
    await start_campaign(e.runtime.services, campaign.id)
    holding = HoldingExecutor(e.runtime.executor)
    e.runtime.dispatcher.executor = holding
    return campaign.id, holding


async def ticks(dispatcher: Dispatcher, n: int) -> list[TickReport]:
    return [await dispatcher.run_once() for _ in range(n)]


async def test_claiming_stops_at_the_limit_and_resumes_when_sends_complete(
    engine: EngineFactory,
) -> None:
    async with engine(sim=QUICK_CALLS, dispatch_max_unsent=LIMIT, dispatch_batch_size=BATCH) as e:
        campaign_id, holding = await held_campaign(e, 20)
        dispatcher = e.runtime.dispatcher
        reports = await ticks(dispatcher, 5)

        assert await unsent(e) == LIMIT == len(holding.held)
        assert sum(r.originated for r in reports) == LIMIT
        assert [r.originated for r in reports[2:]] == [0, 0, 0]
        assert all(r.refused == {SENDERS_BEHIND: 1} for r in reports[2:])
        assert metrics.process_registry.get_sample_value("dialer_unsent_originations") == LIMIT
        statuses = Counter(row["status"] for row in await lead_rows(e, campaign_id))
        assert statuses == {LeadStatus.DIALING.value: LIMIT, LeadStatus.PENDING.value: 14}
        waiting = [row for row in await lead_rows(e, campaign_id) if row["status"] == "PENDING"]
        assert all(row["attempts"] == 0 for row in waiting)  # no attempt spent while waiting

        await holding.deliver()  # the senders catch up
        assert await unsent(e) == 0
        resumed = await ticks(dispatcher, 3)  # one claim a tick: a batch, the rest, none
        assert [r.originated for r in resumed] == [BATCH, LIMIT - BATCH, 0]
        assert await unsent(e) == LIMIT

        await holding.deliver()
        dispatcher.executor = holding.inner  # senders that keep up, to the end
        await asyncio.wait_for(run_to_end(e.runtime, campaign_id), 60)
        attempts = await attempt_rows(e, campaign_id)
        rows = await lead_rows(e, campaign_id)
        stats = await e.stats()
    assert stats["calls_created"] == 20
    assert Counter(a["status"] for a in attempts) == {AttemptStatus.BUSY.value: 20}
    assert all(row["attempts"] == 1 for row in rows)  # one attempt each: none voided


async def test_racing_dispatchers_exceed_the_limit_by_at_most_one_batch_each(
    engine: EngineFactory,
) -> None:
    """Each claim reads the count in its own transaction before claiming, so a dispatcher
    overshoots only by claims of others that were in progress at its read: at most one batch
    per other dispatcher. Total bound: LIMIT + (dispatchers - 1) x BATCH."""
    dispatchers = 3
    async with engine(sim=QUICK_CALLS, dispatch_max_unsent=LIMIT, dispatch_batch_size=BATCH) as e:
        campaign_id, _ = await held_campaign(e, 60)
        services = e.runtime.services
        holders = [HoldingExecutor(e.runtime.executor) for _ in range(dispatchers)]
        racing = [Dispatcher(services, h, BATCH, max_unsent=LIMIT) for h in holders]
        for _ in range(5):
            await asyncio.gather(*(d.run_once() for d in racing))
        held = sum(len(h.held) for h in holders)
        count = await unsent(e)
        rows = await lead_rows(e, campaign_id)
    assert count == held
    assert LIMIT <= count <= LIMIT + (dispatchers - 1) * BATCH
    statuses = Counter(row["status"] for row in rows)
    assert statuses == {LeadStatus.DIALING.value: count, LeadStatus.PENDING.value: 60 - count}
    assert all(row["attempts"] == 0 for row in rows if row["status"] == "PENDING")


async def test_attempts_stranded_unsent_do_not_hold_the_dispatcher_shut(
    engine: EngineFactory,
) -> None:
    """A worker that died holding its jobs: housekeeping withdraws them after the grace (in
    Celery deployments), the reaper of an inline runtime likewise. Either way the count falls
    and claiming resumes, and the withdrawn leads keep their attempts. (The
    engine's clock runs 100 times faster than real time here.)"""
    async with engine(dispatch_max_unsent=LIMIT, dispatch_batch_size=BATCH) as e:
        campaign_id, holding = await held_campaign(e, 20)
        dispatcher = e.runtime.dispatcher
        await ticks(dispatcher, 3)
        assert await unsent(e) == LIMIT
        holding.held.clear()  # lost with their worker: never sent

        assert await withdraw_unsent(e.runtime.services, 3600.0, 100) == 0  # not yet stranded
        e.clock.start += timedelta(seconds=70)  # stranded past the 60 s grace
        assert await withdraw_unsent(e.runtime.services, 60.0, 100) == LIMIT
        assert await unsent(e) == 0
        withdrawn = [r for r in await lead_rows(e, campaign_id) if r["status"] == "PENDING"]
        assert len(withdrawn) == 20
        assert all(r["attempts"] == 0 for r in withdrawn)

        await asyncio.sleep(0.06)  # past the withdrawn leads' 5 s back-off
        await ticks(dispatcher, 3)
        assert await unsent(e) == LIMIT
        holding.held.clear()
        reaper = e.runtime.reaper  # inline: it withdraws what stayed unsent past the grace
        await reaper.run_once()
        assert await unsent(e) == LIMIT  # not yet
        e.clock.start += timedelta(seconds=70)
        await reaper.run_once()
        assert await unsent(e) == 0
        await asyncio.sleep(0.06)
        assert (await dispatcher.run_once()).originated > 0
