"""The database's errors at the store's boundary: the server refusing us (too many
connections, shutting down) is our own trouble, StoreUnavailable (a 503 with Retry-After),
never an error that reaches the client as a 500."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from dialer.adapters.store.transient import translated
from dialer.errors import StoreUnavailable


class DriverError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("53300", "sorry, too many clients already"),
        ("57P01", "terminating connection due to administrator command"),
        ("57P03", "the database system is starting up"),
        ("08006", "connection failure"),
    ],
)
def test_the_server_refusing_us_is_unavailable(sqlstate: str, message: str) -> None:
    error = DBAPIError("SELECT 1", {}, DriverError(message, sqlstate))
    with pytest.raises(StoreUnavailable, match=message), translated():
        raise error


def test_a_bad_statement_stays_what_it_is() -> None:
    error = DBAPIError("SELECT x", {}, DriverError('column "x" does not exist', "42703"))
    with pytest.raises(DBAPIError), translated():
        raise error
