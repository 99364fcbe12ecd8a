"""retry delays stored before durations were bounded to 365 days are brought within it

Revision ID: 0008_bounded_retry_delays
Revises: 0007_do_not_call_author
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_bounded_retry_delays"
down_revision = "0007_do_not_call_author"
branch_labels = None
depends_on = None

YEAR = 365 * 86400  # the bound every duration is now validated against
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
WRITTEN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def _bounded_delay(value: Any) -> Any:
    """A delay as stored ("10m", 600), or "365d" when it is longer than a year."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return min(value, YEAR)
    match = WRITTEN.match(value) if isinstance(value, str) else None
    if match and int(match[1]) * UNIT_SECONDS[match[2]] > YEAR:
        return "365d"
    return value


def _bounded_rule(rule: Any) -> Any:
    if isinstance(rule, list):
        return [_bounded_delay(delay) for delay in rule]
    if isinstance(rule, dict) and isinstance(rule.get("exponential"), dict):
        curve = rule["exponential"]
        bounded = {k: _bounded_delay(curve[k]) for k in ("base", "max") if k in curve}
        return {"exponential": {**curve, **bounded}}
    return rule


def _bounded(settings: dict[str, Any]) -> dict[str, Any]:
    retry = settings.get("retry")
    if not isinstance(retry, dict):
        return settings
    rules = {key: _bounded_rule(rule) for key, rule in retry.items() if key != "max_attempts"}
    return {**settings, "retry": {**retry, **rules}}


def upgrade() -> None:
    # Such a campaign could not run (its retries overflowed the calendar), but it must still
    # read back now that reading validates the bound.
    campaigns = sa.table("campaigns", sa.column("id"), sa.column("settings", sa.JSON))
    bind = op.get_bind()
    for row in bind.execute(sa.select(campaigns.c.id, campaigns.c.settings)).all():
        settings = row.settings if isinstance(row.settings, dict) else json.loads(row.settings)
        bounded = _bounded(settings)
        if bounded != settings:
            bind.execute(
                campaigns.update().where(campaigns.c.id == row.id).values(settings=bounded)
            )


def downgrade() -> None:
    pass  # the longer delays are not kept: they could never be used
