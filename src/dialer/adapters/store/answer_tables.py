"""Answer-time counts: attempts and answers per contact-local hour of the week, for each
tenant, campaign and contact (ports.answer_store)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, PrimaryKeyConstraint, SmallInteger, Table

from dialer.adapters.store.tables import Id, metadata

answer_stats = Table(
    "answer_stats",
    metadata,
    Column("tenant_id", Id, nullable=False, autoincrement=False),
    Column("campaign_id", Id, nullable=False, autoincrement=False),  # 0: every campaign
    Column("contact_id", Id, nullable=False, autoincrement=False),  # 0: every contact
    Column("hour", SmallInteger, nullable=False, autoincrement=False),
    Column("attempts", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id", "contact_id", "hour"),
)
