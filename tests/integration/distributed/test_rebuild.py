"""Redis loses its data (a restart without persistence): nothing is admitted until the state
is rebuilt from PostgreSQL's live attempts, racing reconcilers rebuild it once, and afterwards
the caps and number locks are exactly what the live calls hold. A lost release is pruned.

This is the one place that empties a Redis database (FLUSHDB), and only logical database 15."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from dialer.adapters.admission.redis import RedisAdmission
from dialer.adapters.clock import WallClock
from dialer.adapters.store.sql import SqlStore
from dialer.domain.model import CallAttempt, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.statuses import AttemptStatus
from dialer.ports import ContactDraft, Scope
from dialer.services.calls import end_attempt
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.context import Limits, Services
from dialer.services.dispatch import Dispatcher
from dialer.services.reconciler import Reconciler
from tests.support.engine import HeldExecutor, NoTelephony
from tests.support.redis import LOSS_DB_URL, drop_namespace

pytestmark = pytest.mark.postgres


@pytest.fixture
async def admissions(namespace: str) -> AsyncIterator[tuple[RedisAdmission, RedisAdmission]]:
    """Two dispatchers' backends on the same (disposable) Redis database and namespace."""
    pair = (
        RedisAdmission.from_url(LOSS_DB_URL, namespace=namespace),
        RedisAdmission.from_url(LOSS_DB_URL, namespace=namespace),
    )
    yield pair
    for admission in pair:
        await admission.aclose()
    await drop_namespace(LOSS_DB_URL, namespace)


def services(store: SqlStore, admission: RedisAdmission) -> Services:
    limits = Limits(global_max=100, lease_ttl=600)
    return Services(store, admission, NoTelephony(), WallClock(), limits, "http://127.0.0.1:9")


async def redis_loses_everything() -> None:
    client = Redis.from_url(LOSS_DB_URL)
    try:
        await client.flushdb()
        await client.script_flush()
    finally:
        await client.aclose()


async def live_attempts(store: SqlStore) -> list[CallAttempt]:
    async with store.unit() as uow:
        return await uow.attempts.live()


async def end_without_release(store: SqlStore, attempt_id: int) -> None:
    """The attempt ends in the store, and the process dies before releasing its lease."""
    async with store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id, lock=True)
        assert attempt is not None
        attempt.status, attempt.ended_at = AttemptStatus.FAILED, WallClock().now()
        await uow.attempts.save(attempt)
        await uow.commit()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_state_is_rebuilt_from_postgresql_after_redis_loses_it(
    store: SqlStore, admissions: tuple[RedisAdmission, RedisAdmission]
) -> None:
    first, second = services(store, admissions[0]), services(store, admissions[1])
    settings = CampaignSettings("loss", "+14155550100", max_concurrency=5, ramp_up=0)
    campaign = await create_campaign(first, "acme", settings)
    drafts = [ContactDraft(f"+1212555{i:04d}", zone_key(("America/New_York",))) for i in range(8)]
    await import_drafts(first, campaign.id, drafts)
    await start_campaign(first, campaign.id)
    assert (await Reconciler(first).run_once()).rebuilt  # a new namespace starts unknown
    dispatcher = Dispatcher(first, HeldExecutor())
    assert (await dispatcher.run_once()).originated == 5
    live = await live_attempts(store)
    assert len(live) == 5

    await redis_loses_everything()
    assert await admissions[1].needs_rebuild()
    assert (await dispatcher.run_once()).originated == 0  # nothing before the rebuild
    reports = await asyncio.gather(Reconciler(first).run_once(), Reconciler(second).run_once())
    assert sorted(r.rebuilt for r in reports) == [False, True]

    assert (await admissions[1].usage()).by_campaign == {campaign.id: 5}
    other = Scope(tenant_id=99, campaign_id=99, global_max=100, campaign_max=10)
    [busy] = await admissions[1].acquire_batch(other, [("x", live[0].phone)], ttl=60)
    assert not busy.admitted  # the number is still in its call
    assert (await Dispatcher(second, HeldExecutor()).run_once()).originated == 0  # cap full

    for attempt in live[:2]:
        assert await end_attempt(first, attempt.id, AttemptStatus.COMPLETED, "ended")
    assert (await Dispatcher(second, HeldExecutor()).run_once()).originated == 2

    await end_without_release(store, live[2].id)
    report = await Reconciler(second, grace=0).run_once()
    assert (report.pruned, report.restored) == (1, 0)
    assert (await admissions[0].usage()).by_campaign == {campaign.id: 4}
