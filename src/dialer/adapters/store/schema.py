"""The whole schema: every module that declares tables on the shared ``metadata``.

Migrations and schema checks import this module, so a table module listed here is part of
the schema Alembic compares against. Importing a module registers its tables."""

from __future__ import annotations

from dialer.adapters.store import (
    answer_tables,
    api_tables,
    cluster_tables,
    cost_tables,
    message_tables,
    provider_tables,
    tables,
    webhook_tables,
)
from dialer.adapters.store.tables import metadata

TABLE_MODULES = (
    tables,
    api_tables,
    cluster_tables,
    provider_tables,
    message_tables,
    webhook_tables,
    cost_tables,
    answer_tables,
)

__all__ = ["TABLE_MODULES", "metadata"]
