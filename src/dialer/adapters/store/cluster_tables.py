"""Tables of distributed execution: the dead-letter queue and the processes' heartbeats."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from dialer.adapters.store.tables import Id, UtcDateTime, metadata

# A job that failed after its retries. One row per failed job (kind + dedupe key): a job
# delivered again that fails again adds to ``attempts`` instead of adding a row.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("cause", String(2000), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("replayed_at", UtcDateTime()),
    Column("discarded_at", UtcDateTime()),
    UniqueConstraint("kind", "dedupe_key"),
    Index("ix_dead_letters_tenant_id", "tenant_id", "id"),
)

# One row per running process (dispatcher, worker child, webhook listener), upserted at
# every beat; rows of processes gone for long are pruned by housekeeping.
node_heartbeats = Table(
    "node_heartbeats",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("node", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("beat_at", UtcDateTime(), nullable=False),
    Column("processed", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("rate", Float, nullable=False),
    Column("info", JSON, nullable=False),
    Index("ix_node_heartbeats_beat_at", "beat_at"),
)
