"""Fixtures every kind of test may use: real databases (a SQLite file, and a fresh PostgreSQL
database for the session), a manual clock, the engine wired to the simulator, and logs
captured in memory. Nothing here
mocks our own storage. What the fixtures are built from lives in tests/support."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from dialer.adapters.clock import ManualClock
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.observability.logs import configure_logging
from dialer.settings import load_observability_settings
from tests.support.clock import T0
from tests.support.databases import BACKENDS, create_migrated, drop, truncate_all
from tests.support.engine import EngineFactory, engine_factory
from tests.support.logs import CapturedLogs


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    name = f"dialer_test_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(create_migrated(name))
    yield url
    asyncio.run(drop(name))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A clean, migrated database URL for the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'dialer.db'}"
    url: str = request.getfixturevalue("pg_url")
    asyncio.run(truncate_all(url))
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(make_engine(database_url))
    await migrate.upgrade(store.engine)
    yield store
    await store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(database_url: str) -> EngineFactory:
    """``async with engine(sim=..., start=..., **settings) as e:`` a wired engine."""
    return engine_factory(database_url)


@pytest.fixture
def json_logs() -> Iterator[CapturedLogs]:
    """Logging configured as a server's (JSON, DEBUG), written to memory."""
    captured = CapturedLogs()
    root = logging.getLogger()
    level = root.level
    settings = load_observability_settings(log_format="json", log_level="DEBUG")
    handler = configure_logging(settings, command="serve", stream=captured.stream)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
