"""Shared fixtures: real databases (a SQLite file, and a fresh PostgreSQL database for the
session), and a manual clock. Nothing here mocks our own storage."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from dialer.adapters.clock import ManualClock
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.schema import metadata
from dialer.adapters.store.sql import SqlStore

PG_SERVER = os.environ.get("DIALER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]
# A Tuesday, mid-morning in New York: inside the usual calling windows.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    name = f"dialer_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"

    async def _migrate() -> None:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(_migrate())
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(store: SqlStore) -> None:
    names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    async with store.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A clean, migrated database URL for the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'dialer.db'}"
    url: str = request.getfixturevalue("pg_url")

    async def _clean() -> None:
        store = SqlStore(make_engine(url))
        await _truncate(store)
        await store.close()

    asyncio.run(_clean())
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
