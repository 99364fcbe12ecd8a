"""Sends spaced at the provider, whatever delivery does to them: the engine end to end, with
an executor that delivers admitted calls the way an uneven broker and workers can — held
back, then all at once. Counted by the simulator's observer (each call's start on its clock),
the simulator on an event loop of its own: a request is counted when it arrives, as at a
provider, not when the engine's busy loop gets round to answering it.

Admission paces the calls at the dispatcher; without send slots, a held-back batch reaches
the provider together with the next and its second holds both (the control test shows it).
With them, no second at the provider holds more than the rate allows.

Sends leave on their slots; what follows — the sent marker's commit, the HTTP request, the
event loop under this shared machine's load — adds a delay of its own, a few milliseconds
more for one call than for the next: the send slots hold one call of the burst back for it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from dialer import metrics
from dialer.domain.model import Rate
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports import Executor, Origination
from dialer.runner import run_to_end
from dialer.services.calls import MAX_SEND_WAIT, originate
from dialer.services.campaigns import start_campaign
from tests.support.engine import (
    EngineFactory,
    attempt_rows,
    contacts,
    lead_rows,
    settings,
    sim_config,
)
from tests.support.polling import until
from tests.support.simulation import simulator_on_its_own_loop
from tests.support.stalled_clock import StalledClock, densest

RATE = Rate(per_second=10, burst=3)
ALLOWED = 10 + 3 - 1  # the most starts GCRA gives in a half-open 1 s window
EVERY = 0.9  # seconds between deliveries: each brings every batch admitted since the last
CALLS = 40  # four seconds' worth at the rate
QUICK_CALLS = sim_config(speed=1.0, outcome_mix={"busy": 1.0}, busy_ring=0.2, setup_time=0.1)


class BunchingExecutor:
    """Hands batches to ``inner`` in bunches: every ``EVERY`` seconds, every batch submitted
    since the last bunch, at once. ``spaced=False`` drops the jobs' scope: they are sent as
    soon as they are delivered (no send slot)."""

    def __init__(self, inner: Executor, *, spaced: bool) -> None:
        self.inner = inner
        self.spaced = spaced
        self.bunches = 0
        self._held: list[Origination] = []
        self._delivered = asyncio.Event()
        self._deliveries = asyncio.create_task(self._deliver())

    async def submit(self, batch: Sequence[Origination]) -> None:
        self._held += [
            job if self.spaced else dataclasses.replace(job, scope=None) for job in batch
        ]

    async def _deliver(self) -> None:
        while True:
            await asyncio.sleep(EVERY)
            held, self._held = self._held, []
            if held:
                self.bunches += 1
                await self.inner.submit(held)
                self._delivered.set()

    async def drain(self) -> None:
        while self._held:
            self._delivered.clear()
            await self._delivered.wait()
        await self.inner.drain()

    async def close(self) -> None:
        self._deliveries.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._deliveries


async def starts_at_provider(engine: EngineFactory, *, spaced: bool) -> tuple[list[datetime], int]:
    """Dial CALLS contacts at RATE through a bunching executor; the simulator's start instants
    and how many bunches were delivered."""
    own_loop = simulator_on_its_own_loop
    async with engine(sim=QUICK_CALLS, simulator=own_loop, campaign_max_concurrency=500) as e:
        paced = settings(max_concurrency=500, rate=RATE, ramp_up=0, retry=RetryPolicy(1))
        campaign = await e.campaign(paced, contacts(CALLS))
        bunching = BunchingExecutor(e.runtime.executor, spaced=spaced)
        e.runtime.dispatcher.executor = bunching
        e.runtime.executor = bunching
        try:
            await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        finally:
            await bunching.close()
        stats = await e.stats()
    starts = [datetime.fromisoformat(t) for ts in stats["call_starts"].values() for t in ts]
    return starts, bunching.bunches


async def test_bunched_delivery_overshoots_without_send_slots(engine: EngineFactory) -> None:
    starts, bunches = await starts_at_provider(engine, spaced=False)
    assert len(starts) == CALLS
    assert bunches >= 3
    print(f"\ndensest second at the provider, unspaced: {densest_at(starts)} (allowed {ALLOWED})")
    assert densest_at(starts) > ALLOWED


async def test_send_slots_keep_every_second_at_the_provider_within_the_rate(
    engine: EngineFactory,
) -> None:
    waits_before = send_waits()
    starts, bunches = await starts_at_provider(engine, spaced=True)
    assert len(starts) == CALLS
    assert bunches >= 3
    waited = send_waits() - waits_before
    assert waited.count == CALLS
    assert waited.at_once < CALLS  # the bunched ones waited for their slot
    print(f"\ndensest second at the provider: {densest_at(starts)} (allowed {ALLOWED})")
    assert densest_at(starts) <= ALLOWED


@dataclasses.dataclass(frozen=True)
class Waits:
    count: float
    at_once: float  # sends that did not wait

    def __sub__(self, other: Waits) -> Waits:
        return Waits(self.count - other.count, self.at_once - other.at_once)


def send_waits() -> Waits:
    sample = metrics.process_registry.get_sample_value
    count = sample("dialer_send_wait_seconds_count") or 0.0
    at_once = sample("dialer_send_wait_seconds_bucket", {"le": "0.0"}) or 0.0
    return Waits(count, at_once)


class Capturing:
    def __init__(self) -> None:
        self.jobs: list[Origination] = []

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.jobs += batch

    async def drain(self) -> None:
        return None


async def test_a_send_slot_too_far_off_puts_the_call_back(engine: EngineFactory) -> None:
    """The slot is never waited for past MAX_SEND_WAIT (the lease must cover the whole call):
    the attempt is void, nothing is sent, and its lead is due again with its attempts unspent."""
    async with engine(sim=QUICK_CALLS) as e:
        paced = settings(rate=Rate(per_second=1, burst=1), ramp_up=0, retry=RetryPolicy(1))
        campaign = await e.campaign(paced, contacts(1))
        await start_campaign(e.runtime.services, campaign.id)
        captured = Capturing()
        e.runtime.dispatcher.executor = captured
        await e.runtime.dispatcher.run_once()
        [job] = captured.jobs
        assert job.scope is not None
        for _ in range(int(MAX_SEND_WAIT) + 2):  # one a second: the next slot is too far off
            await e.runtime.services.admission.reserve_send(job.scope, 60.0)
        await originate(e.runtime.services, job)
        stats = await e.stats()
        [attempt] = await attempt_rows(e, campaign.id)
        [lead] = await lead_rows(e, campaign.id)
    assert stats["calls_created"] == 0
    assert attempt["status"] == AttemptStatus.CANCELED.value
    assert lead["status"] == LeadStatus.PENDING.value
    assert lead["attempts"] == 0


async def test_calls_woken_late_for_their_slots_take_later_ones(engine: EngineFactory) -> None:
    """Jobs bunched by delivery wait for their slots; a stall of 1.5 s then wakes all those
    whose slot fell inside it at once. Each gives its slot up and takes a later one: no
    second at the provider holds more than the rate allows."""
    missed = metrics.process_registry.get_sample_value
    before = missed("dialer_send_slots_missed_total", {"channel": "call"}) or 0.0
    own_loop = simulator_on_its_own_loop
    async with engine(sim=QUICK_CALLS, simulator=own_loop, campaign_max_concurrency=500) as e:
        clock = StalledClock(e.runtime.services.clock)
        e.runtime.services.clock = clock
        paced = settings(max_concurrency=500, rate=RATE, ramp_up=0, retry=RetryPolicy(1))
        campaign = await e.campaign(paced, contacts(CALLS))
        bunching = BunchingExecutor(e.runtime.executor, spaced=True)
        e.runtime.dispatcher.executor = bunching
        e.runtime.executor = bunching
        run = asyncio.create_task(run_to_end(e.runtime, campaign.id))
        try:

            async def delivered() -> bool:
                return bunching.bunches > 0

            await until(delivered, 30, "a first bunch delivered", every=0.01)
            await asyncio.sleep(0.1)  # the first bunch is waiting for its slots
            clock.stall(1.5)
            await asyncio.wait_for(run, 60)
        finally:
            await bunching.close()
        stats = await e.stats()
    after = missed("dialer_send_slots_missed_total", {"channel": "call"}) or 0.0
    starts = [datetime.fromisoformat(t) for ts in stats["call_starts"].values() for t in ts]
    assert len(starts) == CALLS
    assert stats["max_calls_per_number"] == 1
    assert after - before >= 3
    print(
        f"\ndensest second at the provider after a stall: {densest_at(starts)} (allowed {ALLOWED})"
    )
    assert densest_at(starts) <= ALLOWED


def densest_at(starts: list[datetime]) -> int:
    return densest([s.timestamp() for s in starts], 1.0)
