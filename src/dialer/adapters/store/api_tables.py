"""Tables of the REST API: API keys, idempotency keys, each tenant's API call queues, and the
dashboard's sign-in sessions."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from dialer.adapters.store.tables import Id, UtcDateTime, metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_id", String(32), nullable=False, unique=True),  # the public part of the key
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the secret part, hex
    Column("scope", String(20), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
)

# One row per (tenant, Idempotency-Key): the first request's answer, replayed to repeats.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of method, path and body
    Column("status_code", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# Calls placed outside campaigns become leads of a standing campaign per tenant, caller ID
# and answer URL: the normal dispatcher paces them under every cap.
api_queues = Table(
    "api_queues",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False),
    Column("caller_id", String(20), nullable=False),
    Column("answer_key", String(64), nullable=False),  # SHA-256 of the answer URL ('' if none)
    Column("campaign_id", Id, ForeignKey("campaigns.id"), nullable=False, index=True),
    UniqueConstraint("tenant_id", "caller_id", "answer_key"),
)

# Dashboard sign-in sessions, shared by every API process. The browser's cookie holds the
# session id; only its SHA-256 is stored, and only the public id of the API key it was
# opened with (the key itself is never stored anywhere).
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of the session id, hex
    Column("key_id", String(32), ForeignKey("api_keys.key_id"), nullable=False),
    Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("notices", JSON, nullable=False),  # pending notices, shown once (size capped)
    Index("ix_dashboard_sessions_key_id", "key_id"),
    Index("ix_dashboard_sessions_last_seen_at", "last_seen_at"),
)
