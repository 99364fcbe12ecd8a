"""`dialer serve` as a real process: uvicorn on loopback, the simulator dialled over HTTP.

First with --api-only (a call is accepted and waits: no dispatcher in this process), then
the full server, whose dispatcher dials the waiting call to its end. Both stop on SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from dialer.bootstrap import open_store
from dialer.domain.safety import NumberPolicy
from dialer.domain.statuses import TERMINAL_LEAD, LeadStatus
from dialer.services.access import KeyScope, create_key
from dialer.services.safety import set_policy
from dialer.settings import load_settings
from dialer.simulator.config import config_from
from dialer.simulator.server import running_simulator
from tests.support.api import bearer
from tests.support.clock import T0
from tests.support.polling import until
from tests.support.processes import dialer_serve

SID, TOKEN = "AC" + "ab" * 16, "serve-token"
pytestmark = pytest.mark.slow


async def _lead(client: httpx.AsyncClient, token: str, lead_id: int) -> LeadStatus:
    response = await client.get(f"/v1/leads/{lead_id}", headers=bearer(token))
    return LeadStatus(response.json()["status"])


async def test_serve_api_only_then_with_the_dispatcher(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    async with open_store(load_settings(database_url=database)) as store:
        _, token = await create_key(store, "acme", KeyScope.OPERATOR, "serve", T0)
        # The test runs on the wall clock: calls outside campaigns may be made at any hour,
        # or at night in New York the call would wait for the morning.
        await set_policy(store, "acme", {"calling_hours": "00:00-24:00"}, NumberPolicy())
    sim = config_from(
        {
            "account_sid": SID,
            "auth_token": TOKEN,
            "speed": 1.0,
            "setup_time": 0.05,
            "ring_min": 0.1,
            "ring_max": 0.3,
            "busy_ring": 0.1,
            "talk_mean": 0.3,
            "drop_after_max": 0.3,
            "cps": 1000.0,
            "outcome_mix": {"answer": 1.0},
            "seed": 5,
        }
    )
    async with running_simulator(sim) as sim_url:
        env = {
            "DIALER_DATABASE_URL": database,
            "DIALER_LISTEN": "127.0.0.1:0",
            "DIALER_TWILIO_API_BASE": sim_url,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "DIALER_TICK_SECONDS": "0.02",
        }
        call = {"to": "+12125550100", "from": "+14155550100"}
        async with (
            dialer_serve(env, "--api-only") as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            placed = await client.post("/v1/calls", json=call, headers=bearer(token))
            assert placed.status_code == 202
            lead_id = placed.json()["id"]
            await asyncio.sleep(1.0)
            assert await _lead(client, token, lead_id) is LeadStatus.PENDING
            assert (await client.get("/readyz")).status_code == 200

        async with dialer_serve(env) as url, httpx.AsyncClient(base_url=url) as client:

            async def finished() -> bool:
                return await _lead(client, token, lead_id) in TERMINAL_LEAD

            await until(finished, 120, "the lead finished", every=0.05)
            metrics = (await client.get("/metrics")).text
            assert "dialer_calls_started_total 1.0" in metrics
        async with httpx.AsyncClient(base_url=sim_url) as sim_client:
            assert (await sim_client.get("/_sim/stats")).json()["calls_created"] == 1
