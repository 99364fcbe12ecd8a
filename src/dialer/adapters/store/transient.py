"""Which database errors are worth a retry of the whole transaction.

PostgreSQL aborts one of two transactions that conflict — a serialization failure (40001)
or a deadlock (40P01) — and expects the client to run it again; a connection lost mid-way
(server restart, failover) is likewise transient. SQLite reports a busy database as
"database is locked". Anything else (a constraint, a bug) fails the same way every time.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_transient_database_error(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRY_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)
