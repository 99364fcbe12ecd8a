"""What every SQL repository shares: the unit's connection and its dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class SqlRepository:
    """A view of one aggregate's tables through the unit of work's connection: every
    statement runs in the unit's one transaction."""

    def __init__(self, conn: AsyncConnection, *, bulk_statements: bool = True) -> None:
        self._conn = conn
        self._dialect = conn.dialect.name
        # PostgreSQL stores a chunk of contacts or leads in one statement (bulk.py).
        self._bulk = bulk_statements and self._dialect == "postgresql"

    def _insert(self, table: Any) -> Any:
        return (postgresql if self._dialect == "postgresql" else sqlite).insert(table)
