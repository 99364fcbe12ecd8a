"""messages of SMS and email steps, their provider events, and per-channel opt-outs

Revision ID: 0010_messages
Revises: 0009_lead_waiting_reason
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_messages"
down_revision = "0009_lead_waiting_reason"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)
PENDING = sa.text("status = 'PENDING'")
UNSETTLED = sa.text("settled_at IS NULL")


def upgrade() -> None:
    _messages()
    op.create_table(
        "message_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("progress", sa.String(length=20), nullable=False),
        sa.Column("received_at", When, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_events_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_events")),
        sa.UniqueConstraint(
            "message_id", "dedupe_key", name=op.f("uq_message_events_message_id_dedupe_key")
        ),
    )
    op.create_table(
        "channel_opt_outs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_opt_outs")),
        sa.UniqueConstraint(
            "tenant_id",
            "channel",
            "address",
            name=op.f("uq_channel_opt_outs_tenant_id_channel_address"),
        ),
    )


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("lead_id", Id, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("zone_key", sa.String(length=200), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("settled_at", When, nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_messages_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_messages_lead_id_leads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("lead_id", "step", name=op.f("uq_messages_lead_id_step")),
        sa.UniqueConstraint("provider_message_id", name=op.f("uq_messages_provider_message_id")),
    )
    op.create_index(
        "ix_messages_due",
        "messages",
        ["due_at", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_messages_unsettled",
        "messages",
        ["campaign_id", "status"],
        postgresql_where=UNSETTLED,
        sqlite_where=UNSETTLED,
    )
    op.create_index(
        "ix_messages_address", "messages", ["tenant_id", "channel", "to_address", "sent_at"]
    )


def downgrade() -> None:
    op.drop_table("channel_opt_outs")
    op.drop_table("message_events")
    op.drop_index("ix_messages_address", table_name="messages")
    op.drop_index("ix_messages_unsettled", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_table("messages")
