"""The schema, as SQLAlchemy Core tables. Alembic migrations must produce exactly this
(a test compares them on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

DUE_PREDICATE = "status IN ('PENDING', 'WAITING_RETRY')"
UNSENT_PREDICATE = "status = 'QUEUED' AND sent_at IS NULL"  # admitted, not handed over yet
TRACEPARENT_LENGTH = 55  # a W3C traceparent: version-trace id-span id-flags

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


tenants = Table(
    "tenants",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("settings", JSON, nullable=False, server_default="{}"),
)

campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_campaigns_status_priority", "status", "priority"),
)

contacts = Table(
    "contacts",
    metadata,
    _id(),
    Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("name", String(200)),
    Column("timezone", String(64)),
    Column("tags", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("quiet_hours", String(200)),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "phone"),
)

leads = Table(
    "leads",
    metadata,
    _id(),
    Column("campaign_id", Id, ForeignKey("campaigns.id"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("zone_key", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_attempt_id", Id),
    Column("outcome", String(200)),
    Column("quiet_hours", String(200)),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("traceparent", String(TRACEPARENT_LENGTH)),  # the API request that queued it
    Column("waiting_on", String(40)),  # why it was last put back without a call, if it was
    UniqueConstraint("campaign_id", "contact_id"),
    # The claim: due leads of one campaign in one open zone, oldest first. Partial, so it
    # holds only the leads still to be called and stays small as a campaign finishes.
    Index(
        "ix_leads_due",
        "campaign_id",
        "zone_key",
        "next_attempt_at",
        "id",
        postgresql_where=text(DUE_PREDICATE),
        sqlite_where=text(DUE_PREDICATE),
    ),
    Index("ix_leads_campaign_status", "campaign_id", "status"),
)

call_attempts = Table(
    "call_attempts",
    metadata,
    _id(),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("campaign_id", Id, nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("number", Integer, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("caller_id", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("lease_id", String(64), nullable=False),
    Column("lease_expires_at", UtcDateTime()),
    Column("provider_call_id", String(64), unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),  # set before the provider request: never sent twice
    Column("initiated_at", UtcDateTime()),
    Column("answered_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("duration", Integer),
    Column("hangup_cause", String(200)),
    Column("traceparent", String(TRACEPARENT_LENGTH)),  # its dispatch span: webhooks' parent
    Column("answered_by", String(10)),  # human, machine, fax, unknown: what AMD found
    # The reaper: live attempts whose lease has run out.
    Index("ix_call_attempts_live", "status", "lease_expires_at"),
    Index("ix_call_attempts_campaign", "campaign_id", "created_at"),
    Index("ix_call_attempts_phone", "phone", "created_at"),
    # Admitted and not yet sent: the dispatchers' backpressure count and housekeeping's
    # stranded attempts. Partial, so it holds only the few attempts between the two.
    Index(
        "ix_call_attempts_unsent",
        "created_at",
        postgresql_where=text(UNSENT_PREDICATE),
        sqlite_where=text(UNSENT_PREDICATE),
    ),
)

call_events = Table(
    "call_events",
    metadata,
    _id(),
    Column("attempt_id", Id, ForeignKey("call_attempts.id"), nullable=False),
    Column("provider_call_id", String(64)),
    Column("dedupe_key", String(64), nullable=False),
    Column("progress", String(20), nullable=False),
    Column("occurred_at", UtcDateTime()),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("effect", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    # One row per reported status change: a repeated delivery is recognised and ignored.
    UniqueConstraint("attempt_id", "dedupe_key"),
)

do_not_call = Table(
    "do_not_call",
    metadata,
    _id(),
    Column("tenant_id", Id, nullable=False),  # 0: the global list, every tenant obeys it
    Column("phone", String(20), nullable=False),
    Column("reason", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
    # The tenant that listed the number; NULL: the platform (a platform key, the command line).
    # On the global list it decides whose reason a tenant admin may read.
    Column("added_by", Id),
    UniqueConstraint("tenant_id", "phone"),
    Index("ix_do_not_call_phone", "phone"),
)
