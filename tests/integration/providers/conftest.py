"""Fixtures for the provider tests: a signed-callback receiver in each dialect, and a whole
engine wired to the simulator speaking any provider's dialect.

These tests run on SQLite unless a test asks for both backends (``indirect`` parametrize on
``backend``): what they prove is about the provider boundary, not the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from dialer.simulator.config import SimulatorConfig
from dialer.simulator.recorder import CallbackRecorder
from tests.support.engine import Engine, wired_engine
from tests.support.providers import (
    TOKEN,
    ProviderEngine,
    dialect_config,
    provider_settings,
    verifier_for,
)
from tests.support.simulation import running_receiver


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def recorder_for() -> Callable[[str], AbstractAsyncContextManager[Any]]:
    """``async with recorder_for(dialect) as (recorder, base_url):`` a callback receiver."""

    @asynccontextmanager
    async def make(dialect: str) -> AsyncIterator[tuple[CallbackRecorder, str]]:
        async with running_receiver(TOKEN, verifier_for(dialect)) as receiver:
            yield receiver.recorder, receiver.base_url

    return make


@pytest.fixture
def provider_engine(database_url: str) -> ProviderEngine:
    """``async with provider_engine(dialect, sim=..., **settings) as e:`` a wired engine whose
    provider is the simulator speaking ``dialect``."""

    def make(
        dialect: str, sim: SimulatorConfig | None = None, **settings: Any
    ) -> AbstractAsyncContextManager[Engine]:
        config = sim or dialect_config(dialect)
        provider = provider_settings(dialect)
        return wired_engine(config, provider, database_url=database_url, **settings)

    return make
