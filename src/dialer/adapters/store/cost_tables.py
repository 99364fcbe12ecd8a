"""Money: the rate cards, every version kept, and one charge per call or message ended."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from dialer.adapters.store.tables import Id, UtcDateTime, metadata

# Amounts in millionths of the currency (the domain's MONEY_PLACES), as integers: exact, and
# summed exactly, on SQLite (which has no decimal type) as on PostgreSQL.
Micros = BigInteger
UNPRICED_PREDICATE = "provider_amount_micros IS NULL AND channel = 'call'"

rate_cards = Table(
    "rate_cards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(40), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("prices", JSON, nullable=False),  # the card's document form (rate_card_document)
    UniqueConstraint("provider", "channel", "version"),
)

charges = Table(
    "charges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("campaign_id", Id, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("subject_id", Id, nullable=False),  # the attempt (calls) or the message
    Column("amount_micros", Micros, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("card_id", Id, nullable=False),
    Column("day", Date, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("provider_amount_micros", Micros),
    UniqueConstraint("channel", "subject_id"),
    # The rollups: a tenant's charges by day, and a campaign's.
    Index("ix_charges_tenant_day", "tenant_id", "day"),
    Index("ix_charges_campaign", "campaign_id", "day"),
    # The calls still without the provider's own price (services.provider_prices): partial,
    # so it holds only the few charges waiting for one.
    Index(
        "ix_charges_unpriced",
        "created_at",
        postgresql_where=text(UNPRICED_PREDICATE),
        sqlite_where=text(UNPRICED_PREDICATE),
    ),
)
