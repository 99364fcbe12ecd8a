"""The database's errors, translated into the project's own at the store's boundary.

Which are worth a retry of the whole transaction:

PostgreSQL aborts one of two transactions that conflict — a serialization failure (40001)
or a deadlock (40P01) — and expects the client to run it again; a connection lost mid-way
(server restart, failover) is likewise transient. SQLite reports a busy database as
"database is locked". Anything else (a constraint, a bug) fails the same way every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dialer.errors import StoreUnavailable, TransientStoreError

RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
# The server refusing us rather than the statement: too_many_connections, an admin or crash
# shutdown, "the database system is starting up"; and class 08, connection exceptions.
UNAVAILABLE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})


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


def is_transient(exc: BaseException) -> bool:
    """Worth running the unit of work again: translated, or still the driver's own (raised
    where no unit translated it, e.g. while a job sends its call)."""
    return isinstance(exc, TransientStoreError) or is_transient_database_error(exc)


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if sqlstate in UNAVAILABLE_SQLSTATES or sqlstate.startswith("08"):
        return True
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


@contextmanager
def translated() -> Iterator[None]:
    """Conflicts become ``TransientStoreError``; a database that cannot be reached
    ``StoreUnavailable``. Anything else (a constraint, a bug) goes up as it is."""
    try:
        yield
    except (DBAPIError, PoolTimeout, OSError) as exc:
        if is_transient_database_error(exc):
            raise TransientStoreError(f"the database asked for a retry: {exc}") from exc
        if _unreachable(exc):
            raise StoreUnavailable(f"the database is unavailable: {exc}") from exc
        raise
