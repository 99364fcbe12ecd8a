"""Messages (SMS and email steps), their provider events, and per-channel opt-outs."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from dialer.adapters.store.tables import Id, UtcDateTime, metadata

ADDRESS_LENGTH = 320  # the longest email address RFC 5321 allows (64 + 1 + 255)
PENDING_PREDICATE = "status = 'PENDING'"
UNSETTLED_PREDICATE = "settled_at IS NULL"

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("campaign_id", Id, ForeignKey("campaigns.id"), nullable=False),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("to_address", String(ADDRESS_LENGTH), nullable=False),
    Column("sender", String(ADDRESS_LENGTH), nullable=False),
    Column("status", String(20), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("zone_key", String(200), nullable=False),
    Column("outcomes", JSON, nullable=False),
    Column("provider_message_id", String(200), unique=True),
    Column("segments", Integer),
    Column("error", String(300)),
    Column("sent_at", UtcDateTime()),
    Column("settled_at", UtcDateTime()),
    Column("token", String(64), nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),  # sends that failed to leave
    # One message per step of a lead: a step decided twice (a crash, a repeated event) adds
    # nothing the second time.
    UniqueConstraint("lead_id", "step"),
    Index(
        "ix_messages_due",
        "due_at",
        "id",
        postgresql_where=text(PENDING_PREDICATE),
        sqlite_where=text(PENDING_PREDICATE),
    ),
    Index(
        "ix_messages_unsettled",
        "campaign_id",
        "status",
        postgresql_where=text(UNSETTLED_PREDICATE),
        sqlite_where=text(UNSETTLED_PREDICATE),
    ),
    Index("ix_messages_address", "tenant_id", "channel", "to_address", "sent_at"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("dedupe_key", String(64), nullable=False),
    Column("progress", String(20), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("message_id", "dedupe_key"),
)

channel_opt_outs = Table(
    "channel_opt_outs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", String(ADDRESS_LENGTH), nullable=False),
    Column("reason", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "channel", "address"),
)
