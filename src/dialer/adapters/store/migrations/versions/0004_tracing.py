"""trace context kept with leads and attempts; merges the three 0003 branches

Revision ID: 0004_tracing
Revises: 0003_api, 0003_jobs, 0003_providers
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_tracing"
down_revision = ("0003_api", "0003_jobs", "0003_providers")
branch_labels = None
depends_on = None

TRACEPARENT = sa.String(length=55)


def upgrade() -> None:
    # Nullable columns without a default: a metadata-only change on both databases, however
    # many leads and attempts there are.
    op.add_column("leads", sa.Column("traceparent", TRACEPARENT, nullable=True))
    op.add_column("call_attempts", sa.Column("traceparent", TRACEPARENT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("traceparent")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("traceparent")
