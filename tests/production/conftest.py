"""The production path: PostgreSQL and Redis admission on the wall clock, the simulator over
HTTP. Each test gets its own Redis namespace, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from dialer.adapters.clock import WallClock
from dialer.bootstrap import open_runtime
from dialer.runner import webhook_listener
from dialer.settings import load_settings
from dialer.simulator.config import SimulatorConfig
from dialer.simulator.server import running_simulator
from tests.services.conftest import SID, TOKEN, Engine, sim_config

REDIS = "redis://127.0.0.1:6379/0"


async def _drop_namespace(namespace: str) -> None:
    client = aioredis.from_url(REDIS)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{namespace}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def production(
    pg_url: str, database_url: str
) -> Callable[..., AbstractAsyncContextManager[Engine]]:
    """``async with production(sim=..., **settings) as e:`` — PostgreSQL + Redis, wall clock."""

    @asynccontextmanager
    async def make(sim: SimulatorConfig | None = None, **settings: Any) -> AsyncIterator[Engine]:
        namespace = f"test-{uuid.uuid4().hex[:12]}"
        config = sim or sim_config()
        async with running_simulator(config) as sim_url:
            values = {
                "database_url": database_url,
                "redis_url": REDIS,
                "redis_namespace": namespace,
                "twilio_api_base": sim_url,
                "twilio_account_sid": SID,
                "twilio_auth_token": TOKEN,
                "listen": "127.0.0.1:0",
                "tick_seconds": 0.01,
            }
            try:
                async with (
                    open_runtime(load_settings(**{**values, **settings}), clock=WallClock()) as rt,
                    webhook_listener(rt, "127.0.0.1", 0) as port,
                    httpx.AsyncClient(base_url=sim_url) as client,
                ):
                    rt.services.webhook_base = f"http://127.0.0.1:{port}"
                    yield Engine(rt, client, WallClock())  # type: ignore[arg-type]
            finally:
                await _drop_namespace(namespace)

    return make
