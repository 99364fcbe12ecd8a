"""The engine wired for real: a store on SQLite or PostgreSQL, the simulator over HTTP on
loopback, and our webhook listener receiving its signed callbacks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from dialer.adapters.clock import ScaledClock
from dialer.bootstrap import Runtime, open_runtime
from dialer.domain.model import Campaign, CampaignSettings
from dialer.ports import ContactDraft, Store
from dialer.runner import webhook_listener
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import import_drafts
from dialer.settings import load_settings
from dialer.simulator.config import SimulatorConfig, config_from
from dialer.simulator.server import running_simulator
from tests.conftest import T0

SID = "AC" + "cd" * 16
TOKEN = "engine-test-token"
SPEED = 100.0


def sim_config(**changes: Any) -> SimulatorConfig:
    base: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "speed": SPEED,
        "setup_time": 0.5,
        "ring_min": 1.0,
        "ring_max": 4.0,
        "busy_ring": 1.0,
        "talk_mean": 8.0,
        "drop_after_max": 3.0,
        "cps": 1000.0,
        "seed": 11,
    }
    return config_from({**base, **changes})


@dataclass
class Engine:
    runtime: Runtime
    sim: httpx.AsyncClient
    clock: ScaledClock

    @property
    def store(self) -> Store:
        return self.runtime.store

    async def stats(self) -> dict[str, Any]:
        return dict((await self.sim.get("/_sim/stats")).json())

    async def campaign(self, settings: CampaignSettings, contacts: list[ContactDraft]) -> Campaign:
        campaign = await create_campaign(self.runtime.services, "acme", settings)
        await import_drafts(self.runtime.services, campaign.id, contacts)
        return campaign


EngineFactory = Callable[..., AbstractAsyncContextManager[Engine]]


@pytest.fixture
def engine(database_url: str) -> EngineFactory:
    """``async with engine(sim=..., start=..., **settings) as e:`` a wired engine."""

    @asynccontextmanager
    async def make(
        sim: SimulatorConfig | None = None, start: datetime = T0, **settings: Any
    ) -> AsyncIterator[Engine]:
        config = sim or sim_config()
        clock = ScaledClock(start, config.speed)
        # The simulator's clock starts on the dialer's simulated instant: its record of when
        # each call started is then comparable with calling windows.
        config = dataclasses.replace(config, epoch=clock.now())
        async with running_simulator(config) as sim_url:
            values = {
                "database_url": database_url,
                "twilio_api_base": sim_url,
                "twilio_account_sid": SID,
                "twilio_auth_token": TOKEN,
                "listen": "127.0.0.1:0",
                "tick_seconds": 0.01,
                "reaper_seconds": 5.0,
            }
            app_settings = load_settings(**{**values, **settings})
            async with (
                open_runtime(app_settings, clock=clock, seed=3) as runtime,
                webhook_listener(runtime, "127.0.0.1", 0) as port,
                httpx.AsyncClient(base_url=sim_url) as client,
            ):
                runtime.services.webhook_base = f"http://127.0.0.1:{port}"
                yield Engine(runtime, client, clock)

    return make
