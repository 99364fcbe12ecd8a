"""The provider guard shared through the real Redis: one breaker and one paced rate for every
process of a deployment. Each guard here has its own connection pool and its own fallback
state, as a separate process would; one test runs the other guard in a spawned process."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dialer.adapters.clock import WallClock
from dialer.adapters.guard.memory import LocalGuardState
from dialer.adapters.guard.redis import RedisGuardState
from dialer.domain.aimd import AimdPolicy
from dialer.domain.breaker import BreakerPolicy, BreakerState
from dialer.errors import ProviderThrottled, ProviderUnavailable
from dialer.services.provider_guard import CircuitOpen, ProviderGuard
from tests.support.redis import REDIS_URL

ACCOUNT = "twilio:ACshared"
BREAKER = BreakerPolicy(
    failure_ratio=0.5, window_seconds=60, min_calls=4, open_seconds=0.5, probes=2
)
PACING = AimdPolicy(ceiling=40.0, floor=1.0, decrease=0.5, step=1.0)
# the spawned process takes longer to start than BREAKER stays open
LONG_OPEN = dataclasses.replace(BREAKER, open_seconds=60)
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1

MakeGuard = Callable[..., Awaitable[ProviderGuard]]


def shared_guard(
    namespace: str, url: str = REDIS_URL, breaker: BreakerPolicy = BREAKER
) -> ProviderGuard:
    clock = WallClock()
    state = RedisGuardState.from_url(
        url,
        ACCOUNT,
        LocalGuardState(clock, breaker, PACING),
        namespace=namespace,
        breaker=breaker,
        pacing=PACING,
    )
    return ProviderGuard(ACCOUNT, state, clock)


@pytest.fixture
async def make_guard(namespace: str) -> AsyncIterator[MakeGuard]:
    opened: list[ProviderGuard] = []

    async def make(url: str = REDIS_URL, breaker: BreakerPolicy = BREAKER) -> ProviderGuard:
        opened.append(shared_guard(namespace, url, breaker))
        return opened[-1]

    yield make
    for guard in opened:
        await guard.aclose()


async def fail(guard: ProviderGuard, creates: int) -> None:
    for _ in range(creates):
        await guard.admit_create()
        await guard.record(ProviderUnavailable("503 from the provider"))


async def test_failures_seen_by_one_guard_open_the_breaker_for_the_other(
    make_guard: MakeGuard,
) -> None:
    worker, dispatcher = await make_guard(), await make_guard()
    await fail(worker, BREAKER.min_calls - 1)
    assert await dispatcher.room() > 0  # not enough evidence yet
    await dispatcher.admit_create()
    await dispatcher.record(ProviderUnavailable("503"))  # the window is shared: 4 of 4 failed

    assert await worker.room() == 0
    assert worker.state().breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        await worker.admit_create()
    assert refused.value.retry_after is not None
    assert dispatcher.is_open
    assert worker.state().breaker.times_opened == 1


async def test_the_half_open_probes_are_shared(make_guard: MakeGuard) -> None:
    one, other = await make_guard(), await make_guard()
    await fail(one, BREAKER.min_calls)
    await asyncio.sleep(BREAKER.open_seconds + 0.1)

    assert await other.room() == BREAKER.probes  # half-open: two probes for everyone
    await one.admit_create()
    await other.admit_create()
    assert await one.room() == 0
    with pytest.raises(CircuitOpen):
        await one.admit_create()  # both probes are out, one from each guard
    await one.abandon()  # a probe never sent is free again, for anyone
    await other.admit_create()

    await other.record(None)
    assert await one.room() == 0  # the second probe is still out
    assert one.state().breaker.state is BreakerState.HALF_OPEN
    await other.record(None)  # both probes succeeded
    assert one.state().breaker.state is BreakerState.HALF_OPEN  # as last seen by ``one``
    assert await one.room() > 0
    assert one.state().breaker.state is BreakerState.CLOSED


async def test_a_failed_probe_reopens_the_breaker_for_everyone(make_guard: MakeGuard) -> None:
    one, other = await make_guard(), await make_guard()
    await fail(one, BREAKER.min_calls)
    await asyncio.sleep(BREAKER.open_seconds + 0.1)
    await other.admit_create()
    await other.record(ProviderUnavailable("still down"))

    with pytest.raises(CircuitOpen):
        await one.admit_create()
    assert one.state().breaker.times_opened == 2


async def test_a_429_seen_by_one_guard_lowers_the_rate_of_the_other(
    make_guard: MakeGuard,
) -> None:
    worker, dispatcher = await make_guard(), await make_guard()
    assert await dispatcher.room() == PACING.ceiling
    await worker.admit_create()
    await worker.record(ProviderThrottled("429 Too Many Requests"))

    assert await dispatcher.room() <= PACING.ceiling * PACING.decrease
    assert dispatcher.state().rate == PACING.ceiling * PACING.decrease
    assert dispatcher.state().rate_decreases == 1
    await dispatcher.started(20)  # the starts spend one shared bucket
    assert await worker.room() == 0


def _fail_in_another_process(namespace: str, creates: int) -> None:
    async def run() -> None:
        guard = shared_guard(namespace, breaker=LONG_OPEN)
        try:
            await fail(guard, creates)
        finally:
            await guard.aclose()

    asyncio.run(run())


async def test_failures_in_another_process_open_the_breaker_here(make_guard: MakeGuard) -> None:
    here = await make_guard(breaker=LONG_OPEN)
    process = multiprocessing.get_context("spawn").Process(
        target=_fail_in_another_process, args=(here_namespace(here), BREAKER.min_calls)
    )
    process.start()
    await asyncio.to_thread(process.join, 60)
    assert process.exitcode == 0

    assert await here.room() == 0
    with pytest.raises(CircuitOpen):
        await here.admit_create()


def here_namespace(guard: ProviderGuard) -> str:
    """The namespace a guard's keys live in (from its Redis key prefix)."""
    state = guard._state
    assert isinstance(state, RedisGuardState)
    return state._keys[0].split("}")[0].lstrip("{")


async def test_a_redis_failure_never_stops_calls(
    make_guard: MakeGuard, caplog: pytest.LogCaptureFixture
) -> None:
    guard = await make_guard(UNREACHABLE_REDIS)
    with caplog.at_level(logging.WARNING):
        assert await guard.room() == PACING.ceiling  # decided locally
        await guard.admit_create()
        await guard.record(None)
        for _ in range(BREAKER.min_calls):  # the local breaker still protects
            await guard.record(ProviderUnavailable("503"))

    assert guard.is_open
    with pytest.raises(CircuitOpen):
        await guard.admit_create()
    failures = [r for r in caplog.records if "Redis failed" in r.getMessage()]
    assert len(failures) == 1  # logged once per outage, not per create
