"""a partial index on attempts admitted and not yet sent (dispatch backpressure)

Revision ID: 0006_unsent_attempts
Revises: 0005_dashboard_sessions
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_unsent_attempts"
down_revision = "0005_dashboard_sessions"
branch_labels = None
depends_on = None

UNSENT = sa.text("status = 'QUEUED' AND sent_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_call_attempts_unsent",
        "call_attempts",
        ["created_at"],
        postgresql_where=UNSENT,
        sqlite_where=UNSENT,
    )


def downgrade() -> None:
    op.drop_index("ix_call_attempts_unsent", table_name="call_attempts")
