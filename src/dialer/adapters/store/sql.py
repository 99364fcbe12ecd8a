"""The store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

A unit of work is one connection and its one transaction, seen through one repository per
aggregate (the modules beside this one). Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
so concurrent dispatchers never wait on, nor take, each other's leads; SQLite has a single
writer, so the clause is simply not rendered there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.adapters.store.access import SqlAccess
from dialer.adapters.store.answers import SqlAnswerStats
from dialer.adapters.store.attempts import SqlAttempts
from dialer.adapters.store.campaigns import SqlCampaigns
from dialer.adapters.store.cluster import SqlCluster
from dialer.adapters.store.contacts import SqlContacts
from dialer.adapters.store.costs import SqlCosts
from dialer.adapters.store.do_not_call import SqlDoNotCall
from dialer.adapters.store.leads import SqlLeads
from dialer.adapters.store.messages import SqlMessages
from dialer.adapters.store.providers import SqlProviders
from dialer.adapters.store.tenants import SqlTenants
from dialer.adapters.store.transient import translated
from dialer.adapters.store.views import SqlViews
from dialer.adapters.store.webhooks import SqlWebhooks


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection, *, bulk_statements: bool = True) -> None:
        self._conn = conn
        self.tenants = SqlTenants(conn, bulk_statements=bulk_statements)
        self.campaigns = SqlCampaigns(conn, bulk_statements=bulk_statements)
        self.leads = SqlLeads(conn, bulk_statements=bulk_statements)
        self.attempts = SqlAttempts(conn, bulk_statements=bulk_statements)
        self.contacts = SqlContacts(conn, bulk_statements=bulk_statements)
        self.do_not_call = SqlDoNotCall(conn, bulk_statements=bulk_statements)
        self.access = SqlAccess(conn, bulk_statements=bulk_statements)
        self.cluster = SqlCluster(conn, bulk_statements=bulk_statements)
        self.providers = SqlProviders(conn, bulk_statements=bulk_statements)
        self.views = SqlViews(conn, bulk_statements=bulk_statements)
        self.messages = SqlMessages(conn, bulk_statements=bulk_statements)
        self.webhooks = SqlWebhooks(conn, bulk_statements=bulk_statements)
        self.costs = SqlCosts(conn, bulk_statements=bulk_statements)
        self.answers = SqlAnswerStats(conn, bulk_statements=bulk_statements)

    async def commit(self) -> None:
        await self._conn.commit()


class SqlStore:
    """The ``Store`` port on an SQLAlchemy async engine.

    ``bulk_statements=False`` keeps PostgreSQL on the portable statements for contacts and
    leads too (tests compare the two paths)."""

    def __init__(self, engine: AsyncEngine, *, bulk_statements: bool = True) -> None:
        self.engine = engine
        self.bulk_statements = bulk_statements

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnitOfWork]:
        """One transaction; the driver's errors leave it as the project's own
        (``StoreUnavailable``, ``TransientStoreError``: see transient.py)."""
        with translated():
            async with self.engine.connect() as conn:
                try:
                    yield SqlUnitOfWork(conn, bulk_statements=self.bulk_statements)
                finally:
                    if conn.in_transaction():
                        await conn.rollback()

    async def ping(self) -> None:
        with translated():
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
