"""Losing Redis is our own trouble, never the caller's: a provider event stored while Redis is
down is answered 2xx (admission catches up later), the API answers 503 with Retry-After, a
restarted Redis is used at once, and a process started while Redis is down waits for it.

Each test runs its own redis-server (tests/support/private_redis.py) that it stops and
starts; the machine's shared Redis is never touched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from dialer.adapters.admission.redis import RedisAdmission
from dialer.adapters.clock import WallClock
from dialer.api.app import create_app
from dialer.bootstrap import Runtime, open_runtime
from dialer.domain.model import CampaignSettings
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.errors import Unavailable
from dialer.ports import ContactDraft
from dialer.services.access import KeyScope, create_key
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings
from tests.support.api import BASE, bearer
from tests.support.clock import T0
from tests.support.engine import HeldExecutor
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.webhooks import TOKEN, callback, event_count, post


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def _settings(database_url: str, redis_url: str, **overrides: Any) -> Any:
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=TOKEN,
        twilio_api_base="http://127.0.0.1:9",  # never called: the executor holds the calls
        public_base_url=BASE,
        **overrides,
    )


@pytest.fixture
async def runtime(database_url: str, redis: PrivateRedis) -> AsyncIterator[Runtime]:
    async with open_runtime(_settings(database_url, redis.url), clock=WallClock()) as runtime:
        yield runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def _admitted_attempt(runtime: Runtime) -> tuple[int, int]:
    """A campaign with one admitted attempt whose create is "in flight": (campaign, attempt)."""
    services = runtime.services
    campaign = await create_campaign(services, "acme", CampaignSettings("w", "+14155550100"))
    await import_drafts(services, campaign.id, [ContactDraft("+12125550100", "America/New_York")])
    await start_campaign(services, campaign.id)
    held = HeldExecutor()
    await Dispatcher(services, held).run_once()
    assert len(held.batches) == 1
    return campaign.id, held.batches[0][0].attempt_id


async def test_events_stored_while_redis_is_down_are_answered_2xx(
    runtime: Runtime, client: httpx.AsyncClient, redis: PrivateRedis
) -> None:
    _, attempt_id = await _admitted_attempt(runtime)
    redis.stop()
    answers = []
    for sequence, status in enumerate(["initiated", "ringing", "in-progress"]):
        answers.append((await post(client, attempt_id, callback(status, sequence))).status_code)
    done = callback("completed", 3, CallDuration="42")
    answers.append((await post(client, attempt_id, done)).status_code)

    assert answers == [204, 204, 204, 204]  # renewals and the release wait for Redis
    assert await event_count(runtime) == 4
    async with runtime.store.unit() as uow:
        attempt = await uow.attempts.get(attempt_id)
        lead = await uow.leads.get(attempt.lead_id if attempt else 0)
    assert attempt is not None
    assert attempt.status is AttemptStatus.COMPLETED
    assert lead.status is LeadStatus.DONE


async def test_the_api_answers_503_with_retry_after_while_redis_is_down(
    runtime: Runtime, client: httpx.AsyncClient, redis: PrivateRedis
) -> None:
    campaign_id, _ = await _admitted_attempt(runtime)
    _, key = await create_key(runtime.store, "acme", KeyScope.VIEWER, "viewer", T0)
    path = f"/v1/campaigns/{campaign_id}/progress"
    assert (await client.get(path, headers=bearer(key))).status_code == 200
    redis.stop()

    response = await client.get(path, headers=bearer(key))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert str(redis.port) not in response.text  # no internals in the answer


async def test_a_restarted_redis_is_used_at_once(redis: PrivateRedis) -> None:
    admission = RedisAdmission.from_url(redis.url, namespace="restart")
    try:
        # Several pooled connections, all of them broken by the restart.
        await asyncio.gather(*(admission.usage() for _ in range(8)))
        redis.stop()
        redis.start()
        usages = await asyncio.gather(*(admission.usage() for _ in range(8)))
        assert all(usage.global_active == 0 for usage in usages)
        assert await admission.needs_rebuild()  # a new, empty server: the reconciler's cue
    finally:
        await admission.aclose()


async def test_a_process_started_before_redis_waits_for_it(database_url: str) -> None:
    redis = PrivateRedis()  # its port chosen, the server not started yet
    settings = _settings(database_url, redis.url, startup_wait_seconds=30)

    async def start_later() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(redis.start)

    started = time.monotonic()
    later = asyncio.create_task(start_later())
    try:
        async with open_runtime(settings, clock=WallClock()) as runtime:
            waited = time.monotonic() - started
            assert (await runtime.services.admission.usage()).global_active == 0
    finally:
        await later
        redis.stop()
    assert waited >= 1.5


async def test_a_process_gives_up_after_the_startup_wait(database_url: str) -> None:
    redis = PrivateRedis()  # never started
    settings = _settings(database_url, redis.url, startup_wait_seconds=1)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="DIALER_STARTUP_WAIT_SECONDS"):
        async with open_runtime(settings, clock=WallClock()):
            pass
    assert 1 <= time.monotonic() - started < 10
