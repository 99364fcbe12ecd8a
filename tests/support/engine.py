"""The engine wired for real: a store on SQLite or PostgreSQL, the simulator over HTTP on
loopback as its provider, and our webhook listener receiving its signed callbacks. Plus the
campaign builders and direct reads the engine's tests share."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from dialer.adapters.clock import ScaledClock
from dialer.adapters.store.tables import call_attempts, leads
from dialer.bootstrap import Runtime, open_runtime
from dialer.domain.machines import Voicemail
from dialer.domain.model import Campaign, CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.ports import (
    CallPrice,
    CallRequest,
    Clock,
    ContactDraft,
    Origination,
    ProviderEvent,
    Store,
)
from dialer.runner import webhook_listener
from dialer.services.campaigns import create_campaign
from dialer.services.contacts import import_drafts
from dialer.services.dispatch import Dispatcher
from dialer.settings import load_settings
from dialer.simulator.config import SimulatorConfig
from dialer.simulator.server import running_simulator
from tests.support.clock import T0
from tests.support.simulation import fast_simulator

SID = "AC" + "cd" * 16
TOKEN = "engine-test-token"
NY = "America/New_York"

ProviderSettings = Callable[[str], dict[str, Any]]
Simulator = Callable[[SimulatorConfig], AbstractAsyncContextManager[str]]  # yields its URL


def sim_config(**changes: Any) -> SimulatorConfig:
    """The engine tests' simulator: fast, with calls a little longer than the default fast."""
    base: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "ring_max": 4.0,
        "talk_mean": 8.0,
        "cps": 1000.0,
        "seed": 11,
    }
    return fast_simulator(**{**base, **changes})


def twilio_settings(sim_url: str) -> dict[str, Any]:
    return {"twilio_api_base": sim_url, "twilio_account_sid": SID, "twilio_auth_token": TOKEN}


@dataclass
class Engine:
    runtime: Runtime
    sim: httpx.AsyncClient
    clock: Clock

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


@asynccontextmanager
async def wired_engine(
    sim: SimulatorConfig,
    provider: ProviderSettings,
    clock: Clock | None = None,
    start: datetime = T0,
    seed: int | None = 3,
    simulator: Simulator = running_simulator,
    **settings: Any,
) -> AsyncIterator[Engine]:
    """The runtime on ``settings`` (a ``database_url`` at least), the simulator as its
    provider (on this event loop, or as ``simulator`` runs it). Without ``clock``, a clock
    scaled as the simulator is, starting at ``start``; the simulator then records each call's
    start on that clock, comparable with calling windows."""
    if clock is None:
        clock = ScaledClock(start, sim.speed)
        sim = dataclasses.replace(sim, epoch=clock.now())
    async with simulator(sim) as sim_url:
        values = {"listen": "127.0.0.1:0", "tick_seconds": 0.01, **provider(sim_url), **settings}
        async with (
            open_runtime(load_settings(**values), clock=clock, seed=seed) as runtime,
            webhook_listener(runtime, "127.0.0.1", 0) as port,
            httpx.AsyncClient(base_url=sim_url) as client,
        ):
            runtime.services.webhook_base = f"http://127.0.0.1:{port}"
            yield Engine(runtime, client, clock)


def engine_factory(database_url: str) -> EngineFactory:
    """``async with engine(sim=..., start=..., **settings) as e:`` a wired Twilio engine;
    ``simulator=simulator_on_its_own_loop`` counts at a simulator the engine's event loop
    cannot hold up."""

    def make(
        sim: SimulatorConfig | None = None,
        start: datetime = T0,
        simulator: Simulator = running_simulator,
        **settings: Any,
    ) -> AbstractAsyncContextManager[Engine]:
        config = sim or sim_config()
        return wired_engine(
            config,
            twilio_settings,
            start=start,
            simulator=simulator,
            database_url=database_url,
            **settings,
        )

    return make


def contacts(n: int, zone: str = NY, prefix: str = "+1212") -> list[ContactDraft]:
    return [ContactDraft(f"{prefix}{2000000 + i:07d}", zone_key((zone,))) for i in range(n)]


def settings(**changes: object) -> CampaignSettings:
    """The engine tests' campaign: cap 5, three attempts, short retry delays."""
    base: dict[str, object] = {
        "name": "engine",
        "caller_id": "+14155550100",
        "max_concurrency": 5,
        "retry": RetryPolicy(
            3,
            {
                Outcome.NO_ANSWER: FixedDelays((60,)),
                Outcome.BUSY: FixedDelays((30,)),
                Outcome.DISCONNECTED: FixedDelays((30,)),
                Outcome.FAILED: FixedDelays(()),
            },
        ),
        "ring_timeout": 10,
        "max_call_duration": 60,
    }
    return CampaignSettings(**{**base, **changes})  # type: ignore[arg-type]


async def attempt_rows(e: Engine, campaign_id: int) -> list[dict[str, object]]:
    async with e.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        stmt = select(call_attempts).where(call_attempts.c.campaign_id == campaign_id)
        return [dict(row._mapping) for row in await conn.execute(stmt)]


async def lead_rows(e: Engine, campaign_id: int) -> list[dict[str, object]]:
    async with e.store.unit() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        stmt = select(leads).where(leads.c.campaign_id == campaign_id)
        return [dict(row._mapping) for row in await conn.execute(stmt)]


class HeldExecutor:
    """Keeps submitted originations without sending them: attempts stay QUEUED, the moment
    between admission and the provider's answer held still (the test may play the worker)."""

    def __init__(self) -> None:
        self.batches: list[Sequence[Origination]] = []

    @property
    def kept(self) -> list[Origination]:
        return [job for batch in self.batches for job in batch]

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.batches.append(batch)

    async def drain(self) -> None:
        return None


async def dispatch_once(runtime: Runtime) -> int:
    """One dispatcher tick that records attempts but sends nothing; returns how many."""
    held = HeldExecutor()
    await Dispatcher(runtime.services, held).run_once()
    return len(held.kept)


class NoTelephony:
    """A provider never called: the test's executor keeps the calls."""

    name = "twilio"
    leaves_voicemail = True
    reports_prices = False

    async def create_call(self, request: CallRequest) -> str:
        raise AssertionError("not used")

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        raise AssertionError("not used")

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        raise AssertionError("not used")

    async def hang_up(self, provider_call_id: str) -> None:
        raise AssertionError("not used")

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        raise AssertionError("not used")

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        raise AssertionError("not used")

    async def aclose(self) -> None:
        return None
