"""The embedded ``dialer serve`` beats like the distributed processes: ``dialer nodes`` lists it
and shows the capacity in use its in-process admission reports."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from dialer.api.server import serve
from dialer.cli.cluster_status import read_cluster_status, status_json
from dialer.services.heartbeat import Heartbeat, cluster_status
from dialer.settings import Settings, load_settings
from tests.support.engine import EngineFactory


async def _nodes_json(settings: Settings) -> dict[str, Any]:
    return status_json(await read_cluster_status(settings))


async def test_a_served_app_beats_and_dialer_nodes_lists_it(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url,
        listen="127.0.0.1:0",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="beat-token",
        twilio_api_base="http://127.0.0.1:9",  # never called: nothing to dial
        heartbeat_seconds=0.2,
    )
    ready = asyncio.Event()
    serving = asyncio.create_task(serve(settings, on_ready=lambda _url: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        for _ in range(100):
            shown = await _nodes_json(settings)
            if shown["nodes"]:
                break
            await asyncio.sleep(0.1)
    finally:
        if ready.is_set():
            os.kill(os.getpid(), signal.SIGTERM)  # serve's own handler: a clean stop
        else:
            serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    [node] = shown["nodes"]
    assert (node["kind"], node["pid"], node["alive"]) == ("serve", os.getpid(), True)
    assert node["node"].startswith("serve@")
    assert shown["capacity_in_use"] == 0  # reported by the process itself: not "unknown"


async def test_capacity_in_use_is_what_the_live_in_process_admissions_report(
    engine: EngineFactory,
) -> None:
    async with engine() as e:
        first, second = Heartbeat("serve", "a@host", 5.0), Heartbeat("serve", "b@host", 5.0)
        first.info["capacity_in_use"], second.info["capacity_in_use"] = 3, 2
        await first.beat(e.store)
        await second.beat(e.store)
        status = await cluster_status(e.store, None, 100, 5.0)
    assert status.capacity_in_use == 5
