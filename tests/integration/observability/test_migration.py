"""Migration 0004 joins the three 0003 branches into one head and can be taken back."""

from __future__ import annotations

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from dialer.adapters.store import migrate
from dialer.adapters.store.sql import SqlStore


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def _downgrade_one(connection: Connection) -> None:
    # Back to the three 0003 heads: only what descends from them all (0004) is undone.
    command.downgrade(migrate.alembic_config(connection), "0003_api")


def test_the_migrations_have_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    (head,) = script.get_heads()  # later revisions descend from the merge, in one line
    assert "0004_tracing" in {r.revision for r in script.walk_revisions("base", head)}
    merge = script.get_revision("0004_tracing")
    assert merge is not None
    assert set(merge.down_revision or ()) == {"0003_api", "0003_jobs", "0003_providers"}


async def test_the_trace_columns_come_and_go(store: SqlStore) -> None:
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(_downgrade_one)
        async with store.engine.connect() as conn:
            assert "traceparent" not in await conn.run_sync(_columns, "leads")
            assert "traceparent" not in await conn.run_sync(_columns, "call_attempts")
            heads = await conn.run_sync(
                lambda c: set(MigrationContext.configure(c).get_current_heads())
            )
            assert heads == {"0003_api", "0003_jobs", "0003_providers"}
    finally:
        await migrate.upgrade(store.engine)
    async with store.engine.connect() as conn:
        assert "traceparent" in await conn.run_sync(_columns, "leads")
        assert "traceparent" in await conn.run_sync(_columns, "call_attempts")
    assert await migrate.is_current(store.engine)
