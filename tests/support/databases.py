"""Real databases for tests: a SQLite file, or a PostgreSQL database of the test session's own,
created, migrated and dropped here. Nothing here mocks our own storage."""

from __future__ import annotations

import os

import asyncpg
from sqlalchemy import text

from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.schema import metadata
from dialer.adapters.store.sql import SqlStore

PG_SERVER = os.environ.get("DIALER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


async def admin(sql: str) -> None:
    """One statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_migrated(name: str) -> str:
    """A new PostgreSQL database at the schema's head; returns its URL."""
    await admin(f'CREATE DATABASE "{name}"')
    url = f"{PG_SERVER}/{name}"
    engine = make_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


async def drop(name: str) -> None:
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def truncate_all(url: str) -> None:
    """Every table emptied and its identities restarted: a clean database for the next test."""
    store = SqlStore(make_engine(url))
    names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await store.close()
