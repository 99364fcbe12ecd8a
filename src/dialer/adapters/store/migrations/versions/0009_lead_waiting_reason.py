"""why a due lead was put back without a call: the frequency cap, a number lock, quiet hours

Revision ID: 0009_lead_waiting_reason
Revises: 0008_bounded_retry_delays
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_lead_waiting_reason"
down_revision = "0008_bounded_retry_delays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Leads deferred before this revision have no recorded reason: they read as "deferred".
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("waiting_on", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("waiting_on")
