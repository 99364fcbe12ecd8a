"""Budgets: the most a campaign (or a tenant) may spend in all, and per day, where a day runs
from midnight to midnight in the budget's own time zone (DST-correct: a day may last 23 or
25 hours)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Budget:
    currency: str
    total: Decimal | None = None
    per_day: Decimal | None = None
    timezone: str = "UTC"

    def day_of(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def day_starts(self, instant: datetime) -> datetime:
        """The instant (UTC) the budget's day holding ``instant`` began."""
        return _midnight(self.day_of(instant), self.timezone)

    def next_day(self, instant: datetime) -> datetime:
        """The instant (UTC) the next budget day begins: when ``per_day`` is whole again."""
        return _midnight(self.day_of(instant) + timedelta(days=1), self.timezone)


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)
