"""Migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from dialer.adapters.store import migrate
from dialer.adapters.store.schema import metadata
from dialer.adapters.store.sql import SqlStore


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_tables(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_upgrade_is_idempotent_and_current(store: SqlStore) -> None:
    await migrate.upgrade(store.engine)
    assert await migrate.is_current(store.engine)
