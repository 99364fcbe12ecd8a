"""What every in-memory repository shares: the store's tables."""

from __future__ import annotations

from dialer.adapters.store.memory.database import Database


class MemoryRepository:
    """A view of one aggregate's tables; the unit of work that made it holds the store's
    lock, so no other unit reads or writes them meanwhile."""

    def __init__(self, db: Database) -> None:
        self._db = db
