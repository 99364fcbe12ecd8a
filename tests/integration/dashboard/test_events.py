"""The live stream (Server-Sent Events) over real HTTP: what a snapshot holds, that it holds
only the tenant's campaigns, and that the stream ends when the browser goes away, when the
session ends, and when the server stops (`dialer serve` must not hang on an open stream)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialer.api.dashboard import close_streams
from dialer.bootstrap import Runtime, open_store
from dialer.ports import ContactDraft
from dialer.services.access import KeyScope, create_key
from dialer.services.contacts import import_drafts
from dialer.settings import load_settings
from tests.support.api import Keys, bearer, new_campaign
from tests.support.clock import T0
from tests.support.dashboard import Served, csrf_of, sign_in
from tests.support.engine import dispatch_once


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event name, data) of each event of an open text/event-stream response."""
    name, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            yield name, json.loads(data)
            name, data = "message", ""


async def next_event(stream: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    return await asyncio.wait_for(anext(stream), 5)


async def _running_campaign(
    client: httpx.AsyncClient, keys: Keys, runtime: Runtime, leads: int
) -> dict[str, Any]:
    campaign = await new_campaign(client, keys.operator, max_concurrency=3, ramp_up=0)
    drafts = [ContactDraft(f"+1212555{i:04d}", "America/New_York") for i in range(leads)]
    await import_drafts(runtime.services, campaign["id"], drafts)
    started = await client.post(
        f"/v1/campaigns/{campaign['id']}/start", headers=bearer(keys.operator)
    )
    assert started.status_code == 200
    return campaign


async def test_a_snapshot_holds_the_tenants_campaigns_and_the_live_calls_against_caps(
    served: Served, keys: Keys, runtime: Runtime
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        campaign = await _running_campaign(client, keys, runtime, leads=5)
        theirs = await new_campaign(client, keys.other, name="globex-secret")
        assert await dispatch_once(runtime) == 3  # the campaign cap: 3 calls held live
        await sign_in(client, keys.viewer)
        url = f"/dashboard/events?campaign={campaign['id']}"
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            stream = events(response)
            name, snapshot = await next_event(stream)
    assert name == "snapshot"
    assert [row["id"] for row in snapshot["campaigns"]] == [campaign["id"]]
    assert theirs["name"] not in json.dumps(snapshot)
    row = snapshot["campaigns"][0]
    assert (row["status"], row["total"], row["done"], row["live"], row["cap"]) == (
        "RUNNING",
        5,
        0,
        3,
        3,
    )
    assert snapshot["tenant"] == {"live": 3, "cap": None}
    assert snapshot["global"] == {"live": 3, "cap": 10000}
    detail = snapshot["campaign"]
    assert detail["caps"]["campaign"] == {"live": 3, "cap": 3}
    assert (detail["remaining"], detail["eta_seconds"]) == (5, None)  # nothing finished yet
    assert detail["calls_per_second"] == pytest.approx(3 / 30)
    assert detail["text"]["eta"] == "—"
    assert detail["text"]["live-campaign"] == "3"
    # admitted and held by the executor, none sent yet (as calls waiting for their hook are)
    assert detail["unsent"] == 3
    assert detail["text"]["unsent-campaign"] == "3"


async def test_the_stream_ends_when_the_browser_goes_away(
    served: Served, keys: Keys, runtime: Runtime
) -> None:
    feed = served.app.state.dashboard.feed
    async with httpx.AsyncClient(base_url=served.url) as client:
        await sign_in(client, keys.viewer)
        async with client.stream("GET", "/dashboard/events") as response:
            await next_event(events(response))
            assert feed.open_streams == 1
    for _ in range(100):
        if feed.open_streams == 0:
            break
        await asyncio.sleep(0.05)
    assert feed.open_streams == 0


async def test_the_stream_ends_when_the_session_does(served: Served, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        await sign_in(client, keys.operator)
        page = await client.get("/dashboard")
        async with client.stream("GET", "/dashboard/events") as response:
            stream = events(response)
            assert (await next_event(stream))[0] == "snapshot"
            signed_out = await client.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
            assert signed_out.status_code == 303
            names = [name async for name, _ in stream]  # ends by itself
    assert names[-1] == "signed-out"


async def test_closing_the_streams_ends_them_at_once(served: Served, keys: Keys) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        await sign_in(client, keys.viewer)
        async with client.stream("GET", "/dashboard/events") as response:
            stream = events(response)
            await next_event(stream)
            started = time.monotonic()
            close_streams(served.app)
            rest = await asyncio.wait_for(_drain(stream), 5)
    assert time.monotonic() - started < 1.0
    assert all(name == "snapshot" for name, _ in rest)


async def _drain(stream: AsyncIterator[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [item async for item in stream]


@pytest.mark.slow
async def test_dialer_serve_stops_promptly_with_a_stream_open(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    async with open_store(load_settings(database_url=database)) as store:
        _, token = await create_key(store, "acme", KeyScope.VIEWER, "dashboard", T0)
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database,
        "DIALER_LISTEN": "127.0.0.1:0",
        "DIALER_TWILIO_API_BASE": "http://127.0.0.1:9",  # nothing is dialled here
        "TWILIO_ACCOUNT_SID": "AC" + "ab" * 16,
        "TWILIO_AUTH_TOKEN": "serve-token",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer.cli", "serve", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = line.split("dialer listening on ")[1].split()[0]
        async with httpx.AsyncClient(base_url=url) as client:
            await sign_in(client, token)
            async with client.stream("GET", "/dashboard/events") as response:
                stream = events(response)
                await next_event(stream)
                process.send_signal(signal.SIGTERM)
                started = time.monotonic()
                await asyncio.wait_for(_drain(stream), 5)  # the server ends the stream
                code = await asyncio.wait_for(process.wait(), 10)
        assert time.monotonic() - started < 3.0
        assert code == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
