"""The whole schema: every module that declares tables on the shared ``metadata``.

Migrations and schema checks import this module, so a table module listed here is part of
the schema Alembic compares against."""

from __future__ import annotations

import dialer.adapters.store.api_tables  # noqa: F401  (the REST API's tables)
import dialer.adapters.store.cluster_tables  # dead letters, heartbeats (issue 4)
from dialer.adapters.store import tables
from dialer.adapters.store.tables import metadata

__all__ = ["metadata", "tables"]
