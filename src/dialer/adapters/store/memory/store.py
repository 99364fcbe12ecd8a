"""The store in memory: a product backend for one process, not a test double.

It keeps every table the SQL store has, in dicts, and gives the same answers (the store
contract suite runs on it beside SQLite and PostgreSQL). Nothing survives the process: use
it for a run whose record is not needed afterwards (a demo, a trial of a campaign file, the
fast tests of the services), and SQLite or PostgreSQL for anything that must be kept.

Transactions, chosen to be simple and plainly correct:

- One writer at a time, as with SQLite. A unit of work takes the store's one asyncio lock
  when it opens and holds it until it ends, so units run one after another; what a unit
  changes is visible to itself at once and to no other unit before it ends. A unit opened in
  a task that already holds one is an error (it would wait for itself forever).
- Rollback by an undo journal: every change to a row notes the row as it was; leaving the
  unit without ``commit()`` puts those rows back, latest first. ``commit()`` forgets the
  notes, and the unit may go on and commit again, as a SQL connection may.
- Ids come from a counter per table and are not given back by a rollback (a sequence's
  behaviour). Timestamps are those the callers pass in. The platform's do-not-call list is
  tenant 0, as in SQL.
- Row locks (``lock=True``, a claim's SKIP LOCKED) need nothing more: no other unit runs
  while one holds the lock. The store lives in one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dialer.adapters.store.memory.access import MemoryAccess
from dialer.adapters.store.memory.answers import MemoryAnswerStats
from dialer.adapters.store.memory.attempts import MemoryAttempts
from dialer.adapters.store.memory.campaigns import MemoryCampaigns
from dialer.adapters.store.memory.cluster import MemoryCluster
from dialer.adapters.store.memory.contacts import MemoryContacts
from dialer.adapters.store.memory.costs import MemoryCosts
from dialer.adapters.store.memory.database import Database
from dialer.adapters.store.memory.do_not_call import MemoryDoNotCall
from dialer.adapters.store.memory.leads import MemoryLeads
from dialer.adapters.store.memory.messages import MemoryMessages
from dialer.adapters.store.memory.providers import MemoryProviders
from dialer.adapters.store.memory.tenants import MemoryTenants
from dialer.adapters.store.memory.views import MemoryViews
from dialer.adapters.store.memory.webhooks import MemoryWebhooks
from dialer.errors import DialerError


class MemoryUnitOfWork:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.tenants = MemoryTenants(db)
        self.campaigns = MemoryCampaigns(db)
        self.leads = MemoryLeads(db)
        self.attempts = MemoryAttempts(db)
        self.contacts = MemoryContacts(db)
        self.do_not_call = MemoryDoNotCall(db)
        self.access = MemoryAccess(db)
        self.cluster = MemoryCluster(db)
        self.providers = MemoryProviders(db)
        self.views = MemoryViews(db)
        self.messages = MemoryMessages(db)
        self.webhooks = MemoryWebhooks(db.webhooks)
        self.costs = MemoryCosts(db)
        self.answers = MemoryAnswerStats(db)

    async def commit(self) -> None:
        self._db.journal.forget()


class MemoryStore:
    """The ``Store`` port in this process's memory."""

    def __init__(self) -> None:
        self._db = Database()
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[MemoryUnitOfWork]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise DialerError("a unit of work is already open in this task")
        async with self._lock:
            self._holder = task
            try:
                yield MemoryUnitOfWork(self._db)
            finally:
                self._db.journal.undo()  # what was not committed
                self._holder = None

    async def ping(self) -> None:
        """Always answers: the tables are in this process."""

    async def close(self) -> None:
        """Nothing to release: the tables go with the store."""
