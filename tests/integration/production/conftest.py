"""The production path: PostgreSQL and Redis admission on the wall clock, the simulator over
HTTP. Each test gets its own Redis namespace, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from dialer.adapters.clock import WallClock
from dialer.simulator.config import SimulatorConfig
from tests.support.engine import Engine, sim_config, twilio_settings, wired_engine
from tests.support.redis import REDIS_URL, drop_namespace


@pytest.fixture
def production(
    pg_url: str, database_url: str
) -> Callable[..., AbstractAsyncContextManager[Engine]]:
    """``async with production(sim=..., **settings) as e:`` — PostgreSQL + Redis, wall clock."""

    @asynccontextmanager
    async def make(sim: SimulatorConfig | None = None, **settings: Any) -> AsyncIterator[Engine]:
        namespace = f"test-{uuid.uuid4().hex[:12]}"
        values = {
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "redis_namespace": namespace,
        }
        try:
            async with wired_engine(
                sim or sim_config(),
                twilio_settings,
                WallClock(),
                seed=None,
                **{**values, **settings},
            ) as e:
                yield e
        finally:
            await drop_namespace(REDIS_URL, namespace)

    return make
