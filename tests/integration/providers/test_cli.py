"""``dialer simulator --dialect telnyx`` in its own process, and the provider line of
``dialer status``."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from typer.testing import CliRunner

from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.cli.main import app
from dialer.domain.breaker import BreakerState, ProviderHealth
from tests.support.providers import telnyx_public_key


async def test_the_simulator_speaks_telnyx_and_prints_its_public_key() -> None:
    env = {**os.environ, "TWILIO_AUTH_TOKEN": "cli-key"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer.simulator", "--port", "0", "--dialect", "telnyx",
        "--account-sid", "conn-1", stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            url = (await process.stdout.readline()).decode().split()[-1]
            key_line = (await process.stdout.readline()).decode()
        headers = {"Authorization": "Bearer cli-key"}
        body = {"connection_id": "conn-1", "to": "+14155550123", "from": "+14155550100"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            dialed = await client.post("/v2/calls", json=body)
            refused = await client.post("/v2/calls", json=body, headers={"Authorization": "x"})
            config = (await client.get("/_sim/config")).json()
    finally:
        process.terminate()
        await process.wait()
    assert key_line.split()[-1] == telnyx_public_key("cli-key") == config["telnyx_public_key"]
    assert dialed.status_code == 200
    assert dialed.json()["data"]["call_control_id"].startswith("v3:")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "10009"


async def test_status_shows_each_providers_breaker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'status.db'}"
    store = SqlStore(make_engine(url))
    await migrate.upgrade(store.engine)
    health = ProviderHealth(
        "plivo:MAZDQ1ZDCYNDRIYTYXNZ",
        BreakerState.OPEN,
        2,
        datetime(2026, 3, 3, 15, 0, 30, tzinfo=UTC),
        12.5,
        100.0,
        datetime(2026, 3, 3, 15, 0, 0, tzinfo=UTC),
    )
    async with store.unit() as uow:
        await uow.providers.save_health(health)
        await uow.providers.save_health(health)  # replaced, not added
        await uow.commit()
    await store.close()

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["status"], env={"DIALER_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("provider ")]
    assert lines == [
        "provider plivo:MAZDQ1ZDCYNDRIYTYXNZ: circuit breaker open until 15:00:30 UTC "
        "(opened 2 times), pacing 12.5 of 100 calls/s, as of 2026-03-03 15:00:00 UTC"
    ]
