"""contact safety and at-most-once: do-not-call lists, tenant settings, quiet hours, the
due-lead index, and the attempts' sent marker

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    for table in ("contacts", "leads"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("quiet_hours", sa.String(length=200), nullable=True))
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "do_not_call",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call")),
        sa.UniqueConstraint("tenant_id", "phone", name=op.f("uq_do_not_call_tenant_id_phone")),
    )
    op.create_index("ix_do_not_call_phone", "do_not_call", ["phone"])
    op.drop_index("ix_leads_claim", table_name="leads")
    due = sa.text("status IN ('PENDING', 'WAITING_RETRY')")
    op.create_index(
        "ix_leads_due",
        "leads",
        ["campaign_id", "zone_key", "next_attempt_at", "id"],
        postgresql_where=due,
        sqlite_where=due,
    )
    op.create_index("ix_leads_campaign_status", "leads", ["campaign_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_leads_campaign_status", table_name="leads")
    op.drop_index("ix_leads_due", table_name="leads")
    op.create_index(
        "ix_leads_claim", "leads", ["campaign_id", "status", "zone_key", "next_attempt_at"]
    )
    op.drop_index("ix_do_not_call_phone", table_name="do_not_call")
    op.drop_table("do_not_call")
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("sent_at")
    for table in ("contacts", "leads"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("quiet_hours")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("settings")
