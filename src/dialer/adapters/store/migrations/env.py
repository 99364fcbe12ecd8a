"""Alembic environment. Dialer runs migrations on a connection it hands over
(``config.attributes["connection"]``), so they work from async code and in tests alike."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dialer.adapters.store.schema import metadata

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `dialer migrate`, which provides the connection")
run_on(connection)
