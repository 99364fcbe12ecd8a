"""the calls still without the provider's own price: a partial index on charges

Revision ID: 0016_unpriced_charges
Revises: 0015_answer_stats
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_unpriced_charges"
down_revision = "0015_answer_stats"
branch_labels = None
depends_on = None

UNPRICED = sa.text("provider_amount_micros IS NULL AND channel = 'call'")


def upgrade() -> None:
    op.create_index(
        "ix_charges_unpriced",
        "charges",
        ["created_at"],
        postgresql_where=UNPRICED,
        sqlite_where=UNPRICED,
    )


def downgrade() -> None:
    op.drop_index("ix_charges_unpriced", table_name="charges")
