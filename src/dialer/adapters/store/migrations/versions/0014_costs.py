"""money: rate cards (every version kept) and one charge per call or message

Revision ID: 0014_costs
Revises: 0013_webhooks
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_costs"
down_revision = "0013_webhooks"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_at", When, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("prices", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
        sa.UniqueConstraint(
            "provider", "channel", "version", name=op.f("uq_rate_cards_provider_channel_version")
        ),
    )
    op.create_table(
        "charges",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("subject_id", Id, nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("card_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("provider_amount_micros", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("channel", "subject_id", name=op.f("uq_charges_channel_subject_id")),
    )
    op.create_index("ix_charges_tenant_day", "charges", ["tenant_id", "day"])
    op.create_index("ix_charges_campaign", "charges", ["campaign_id", "day"])


def downgrade() -> None:
    op.drop_table("charges")
    op.drop_table("rate_cards")
