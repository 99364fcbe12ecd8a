"""who answered a call, as answering-machine detection found: human, machine, fax, unknown

Revision ID: 0012_answered_by
Revises: 0011_message_tries
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_answered_by"
down_revision = "0011_message_tries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Attempts made before this revision had no detection: none is recorded for them.
    with op.batch_alter_table("call_attempts") as batch:
        batch.add_column(sa.Column("answered_by", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("answered_by")
