"""Engines for the two supported databases: a SQLite file (embedded) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dialer.errors import InvalidInput, Problem

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs; pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise InvalidInput(
            Problem(
                "DIALER_DATABASE_URL", f"unsupported database {backend!r}: use sqlite or postgresql"
            )
        )
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status, progress) run beside the writer; NORMAL sync is durable
    # across application crashes, which is what the embedded default promises.
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=10000",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    target = async_url(url)
    if make_url(target).get_backend_name() == "sqlite":
        # One connection: SQLite has one writer anyway, and queueing in the pool is cheaper
        # and clearer than "database is locked" retries.
        engine = create_async_engine(target, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    return create_async_engine(
        target, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


async def create_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names, unless it exists (connecting to the
    server's ``postgres`` database to do it)."""
    target = make_url(async_url(url))
    server = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as conn:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if await conn.scalar(exists, {"name": target.database}) is None:
                await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await server.dispose()
