"""Fixtures of the integration tests: the REST app in process on the database under test, with
API keys of every scope for two tenants (acme and globex); the simulator's fast settings and a
signed-callback receiver on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from dialer.bootstrap import Runtime
from dialer.simulator.config import SimulatorConfig
from tests.support.api import Keys, api_client, api_runtime, make_keys
from tests.support.simulation import Receiver, running_receiver, simulator_test_config


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def runtime(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Runtime]:
    async with api_runtime(database_url, **settings_overrides) as runtime:
        yield runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime) as client:
        yield client


@pytest.fixture
async def keys(runtime: Runtime) -> Keys:
    return await make_keys(runtime)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def sim_config() -> Callable[..., SimulatorConfig]:
    """Settings for a fast simulator (speed 100), with the changes given."""
    return simulator_test_config
