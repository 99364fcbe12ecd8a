"""Migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert

from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.schema import metadata
from dialer.adapters.store.sql import SqlStore
from dialer.adapters.store.tables import campaigns, tenants
from dialer.campaign_document import settings_to_mapping
from dialer.domain.model import CampaignSettings
from dialer.domain.retry import ExponentialBackoff, FixedDelays, Outcome
from tests.support import databases
from tests.support.clock import T0


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


def _back_to_unbounded_delays(connection: Connection) -> None:
    command.downgrade(migrate.alembic_config(connection), "0007_do_not_call_author")


async def test_retry_delays_stored_beyond_a_year_are_brought_within_it(store: SqlStore) -> None:
    """A campaign stored before durations were bounded still reads back: its over-long delays
    become a year (it could never retry that late: the calendar overflowed)."""
    settings = settings_to_mapping(CampaignSettings("old", "+14155550100"))
    settings["retry"] |= {
        "no_answer": ["10m", "3650000d"],
        "busy": {"exponential": {"base": 60, "factor": 2, "max": 10**12, "jitter": 0}},
    }
    async with store.engine.begin() as conn:
        await conn.run_sync(_back_to_unbounded_delays)
        tenant = await conn.execute(insert(tenants).values(name="acme", created_at=T0))
        await conn.execute(
            insert(campaigns).values(
                tenant_id=tenant.inserted_primary_key[0],
                name="old",
                status="DRAFT",
                priority=5,
                settings=settings,
                version=1,
                created_at=T0,
                updated_at=T0,
            )
        )
    await migrate.upgrade(store.engine)

    async with store.unit() as uow:
        campaign = await uow.campaigns.get(1)
    rules = campaign.settings.retry.rules
    assert rules[Outcome.NO_ANSWER] == FixedDelays((600, 365 * 86400))
    busy = rules[Outcome.BUSY]
    assert isinstance(busy, ExponentialBackoff)
    assert (busy.base, busy.maximum) == (60, 365 * 86400)


async def test_processes_started_together_on_an_empty_database_migrate_once() -> None:
    """Four processes migrate an empty PostgreSQL database at the same moment, as a
    deployment's dispatchers and listeners do when they start together: the advisory lock
    lets one create the schema while the others wait, then find it current."""
    name = f"dialer_race_{os.getpid()}"
    await databases.drop(name)
    await databases.admin(f'CREATE DATABASE "{name}"')
    url = f"{databases.PG_SERVER}/{name}"
    try:
        env = {**os.environ, "DIALER_DATABASE_URL": url}
        command = [sys.executable, "-m", "dialer.cli", "migrate"]
        runs = [
            await asyncio.create_subprocess_exec(
                *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        done = await asyncio.wait_for(asyncio.gather(*(r.communicate() for r in runs)), 120)
        assert [r.returncode for r in runs] == [0, 0, 0, 0], [err.decode() for _, err in done]
        engine = make_engine(url)
        try:
            assert await migrate.is_current(engine)
            async with engine.connect() as conn:
                assert await conn.run_sync(_differences) == []
        finally:
            await engine.dispose()
    finally:
        await databases.drop(name)
