"""Outbound webhooks: tenants' endpoints, the outbox of events, one delivery per subscribed
endpoint, the attempts made, and each lead's event sequence."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from dialer.adapters.store.tables import Id, UtcDateTime, metadata

SECRET_LENGTH = 100
PENDING_PREDICATE = "status = 'PENDING'"

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", String(500), nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Kept in clear: signing needs them. Never logged, never returned after creation.
    Column("secret", String(SECRET_LENGTH), nullable=False),
    Column("previous_secret", String(SECRET_LENGTH)),
    Column("previous_until", UtcDateTime()),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("paused_until", UtcDateTime()),
    Column("disabled_reason", String(300)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_webhook_endpoints_tenant_id", "tenant_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("type", String(60), nullable=False),
    Column("lead_id", Id),
    Column("sequence", Integer),
    Column("data", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", Id, ForeignKey("webhook_events.id"), nullable=False),
    Column("endpoint_id", Id, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("lead_id", Id),
    Column("sequence", Integer),
    Column("status", String(12), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("tries", Integer, nullable=False),
    Column("last_error", String(500)),
    Index(
        "ix_webhook_deliveries_due",
        "due_at",
        "id",
        postgresql_where=text(PENDING_PREDICATE),
        sqlite_where=text(PENDING_PREDICATE),
    ),
    # per-lead ordering: an earlier pending delivery of the lead to the endpoint is found here
    Index("ix_webhook_deliveries_lead", "endpoint_id", "lead_id", "sequence"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("endpoint_id", Id, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("error", String(500)),
    Index("ix_webhook_attempts_endpoint_id", "endpoint_id", "id"),
)

# A lead's last event number: taken by an upsert, which also orders two transactions
# writing events of the same lead (the second waits for the first's row lock).
webhook_lead_sequences = Table(
    "webhook_lead_sequences",
    metadata,
    Column("lead_id", Id, primary_key=True, autoincrement=False),
    Column("sequence", Integer, nullable=False),
)
