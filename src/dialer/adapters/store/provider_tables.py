"""Provider health: each provider account's circuit breaker and pacing as the
dispatcher last saw them, so ``dialer status`` (another process) can show them."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from dialer.adapters.store.tables import UtcDateTime, metadata

provider_health = Table(
    "provider_health",
    metadata,
    Column("account", String(120), primary_key=True),  # provider:account
    Column("breaker_state", String(20), nullable=False),
    Column("times_opened", Integer, nullable=False),
    Column("retry_at", UtcDateTime()),
    Column("rate", Float, nullable=False),
    Column("ceiling", Float, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
