"""answer-time counts per contact-local hour of the week: tenant, campaign, contact

Revision ID: 0015_answer_stats
Revises: 0014_costs
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_answer_stats"
down_revision = "0014_costs"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "answer_stats",
        sa.Column("tenant_id", Id, autoincrement=False, nullable=False),
        sa.Column("campaign_id", Id, autoincrement=False, nullable=False),
        sa.Column("contact_id", Id, autoincrement=False, nullable=False),
        sa.Column("hour", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "campaign_id", "contact_id", "hour", name=op.f("pk_answer_stats")
        ),
    )


def downgrade() -> None:
    op.drop_table("answer_stats")
