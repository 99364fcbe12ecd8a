"""The outbox under a crash between commit and delivery, on PostgreSQL with real processes:
``dialer serve`` commits an event and starts delivering it, and is killed (SIGKILL) while
the receiver holds the request. Nothing was settled, so a second ``dialer serve`` claims the
delivery once the dead one's lease runs out and delivers it: at least once, never zero."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from dialer.bootstrap import open_store
from dialer.services.access import KeyScope, create_key
from dialer.settings import load_settings
from tests.support.api import CAMPAIGN, bearer
from tests.support.clock import T0
from tests.support.databases import truncate_all
from tests.support.polling import until
from tests.support.webhook_receiver import SLOW, running_receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@asynccontextmanager
async def serving(env: dict[str, str]) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``dialer serve`` as a process; its URL. Killed at the end if the test has not."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.cli",
        "serve",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert "dialer listening on " in line, line
        yield line.split("dialer listening on ")[1].split()[0], process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 20)


async def test_an_event_committed_is_delivered_after_its_deliverer_is_killed(
    pg_url: str,
) -> None:
    await truncate_all(pg_url)
    async with open_store(load_settings(database_url=pg_url)) as store:
        _, token = await create_key(store, "acme", KeyScope.ADMIN, "crash", T0)
    env = {
        "DIALER_DATABASE_URL": pg_url,
        "DIALER_LISTEN": "127.0.0.1:0",
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",
        "TWILIO_ACCOUNT_SID": "AC" + "ef" * 16,
        "TWILIO_AUTH_TOKEN": "crash-token",
        "DIALER_WEBHOOK_ALLOW_HTTP": "true",
        "DIALER_WEBHOOK_ALLOW_PRIVATE": "true",
        "DIALER_WEBHOOK_TIMEOUT_SECONDS": "3",  # a lease of 10 s
        "DIALER_WEBHOOK_TICK_SECONDS": "0.05",
    }
    async with running_receiver() as receiver:
        receiver.slow_seconds = 12  # the first request is held until its sender is dead
        receiver.answer(SLOW)
        async with serving(env) as (url, doomed), httpx.AsyncClient(base_url=url) as api:
            endpoint = await api.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.url, "events": ["campaign.state_changed"]},
                headers=bearer(token),
            )
            receiver.secrets.append(endpoint.json()["secret"])
            created = await api.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(token))
            campaign_id = created.json()["id"]
            await api.post(f"/v1/campaigns/{campaign_id}/start", headers=bearer(token))

            async def in_flight() -> bool:
                return len(receiver.received) >= 1  # the first is held (SLOW)

            await until(in_flight, 20, "the event's first delivery in flight")
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
        first = receiver.received[0]

        async with serving(env) as (_, heir):
            event_id = first.headers["webhook-id"]

            async def delivered() -> bool:
                return event_id in {payload["id"] for payload in receiver.delivered()}

            await until(delivered, 40, "the event delivered by the next process")
            heir.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(heir.wait(), 20) == 0
    # The held event again, in full (the campaign, empty, also completes: another event).
    [again] = [r for r in receiver.received[1:] if r.headers["webhook-id"] == event_id]
    sent = [{k: v for k, v in r.payload.items() if k != "_answer"} for r in (first, again)]
    assert sent[0] == sent[1]
    assert first.payload["type"] == "campaign.state_changed"
    assert receiver.refused == []
