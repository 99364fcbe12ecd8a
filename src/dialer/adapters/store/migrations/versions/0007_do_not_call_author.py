"""who listed each do-not-call entry: a tenant, or NULL for the platform

Revision ID: 0007_do_not_call_author
Revises: 0006_unsent_attempts
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_do_not_call_author"
down_revision = "0006_unsent_attempts"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Entries listed before this revision have no known author: they read as the platform's,
    # so their reasons stay hidden from every tenant.
    with op.batch_alter_table("do_not_call") as batch:
        batch.add_column(sa.Column("added_by", Id, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("do_not_call") as batch:
        batch.drop_column("added_by")
