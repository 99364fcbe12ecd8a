"""A budget's day runs midnight to midnight in its own time zone, DST included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from dialer.domain.budgets import Budget

NEW_YORK = Budget("USD", per_day=Decimal(10), timezone="America/New_York")


def test_the_day_is_the_budget_zones_not_utcs() -> None:
    late_evening = datetime(2026, 12, 4, 3, 30, tzinfo=UTC)  # 22:30 on the 3rd in New York
    assert NEW_YORK.day_of(late_evening) == date(2026, 12, 3)
    assert NEW_YORK.day_starts(late_evening) == datetime(2026, 12, 3, 5, tzinfo=UTC)
    assert NEW_YORK.next_day(late_evening) == datetime(2026, 12, 4, 5, tzinfo=UTC)


def test_the_day_daylight_saving_ends_lasts_25_hours() -> None:
    during = datetime(2026, 11, 1, 12, tzinfo=UTC)  # 1 November 2026: clocks go back
    length = NEW_YORK.next_day(during) - NEW_YORK.day_starts(during)
    assert length.total_seconds() == 25 * 3600


def test_the_day_daylight_saving_begins_lasts_23_hours() -> None:
    during = datetime(2026, 3, 8, 12, tzinfo=UTC)  # 8 March 2026: clocks go forward
    length = NEW_YORK.next_day(during) - NEW_YORK.day_starts(during)
    assert length.total_seconds() == 23 * 3600


def test_a_utc_budget_turns_at_utc_midnight() -> None:
    budget = Budget("EUR", total=Decimal(1))
    instant = datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC)
    assert budget.next_day(instant) == datetime(2026, 12, 5, tzinfo=UTC)
