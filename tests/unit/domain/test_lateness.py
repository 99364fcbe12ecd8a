"""Dispatch lag is measured from the instant a lead became callable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.domain.lateness import callable_since, dispatch_lag
from dialer.domain.window import CallingWindow, parse_clock

NY = ("America/New_York",)
NINE_TO_FIVE = CallingWindow.daily(range(7), parse_clock("09:00"), parse_clock("17:00"))
TUESDAY_10AM_NY = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def test_a_lead_due_inside_the_window_is_callable_when_due() -> None:
    due = TUESDAY_10AM_NY
    started = due - timedelta(hours=1)
    assert callable_since(due, started, None, NINE_TO_FIVE, NY) == due


def test_a_lead_due_at_night_becomes_callable_when_the_window_opens() -> None:
    night = TUESDAY_10AM_NY + timedelta(hours=12)  # 22:00 in New York
    opens = TUESDAY_10AM_NY + timedelta(hours=23)  # 09:00 the next day
    assert callable_since(night, night, None, NINE_TO_FIVE, NY) == opens


def test_a_lead_waits_for_its_campaign_to_run_and_start() -> None:
    due = TUESDAY_10AM_NY - timedelta(hours=1)
    running = TUESDAY_10AM_NY
    start_at = TUESDAY_10AM_NY + timedelta(minutes=30)
    assert callable_since(due, running, None, NINE_TO_FIVE, NY) == running
    assert callable_since(due, running, start_at, NINE_TO_FIVE, NY) == start_at


def test_lag_is_never_negative() -> None:
    assert dispatch_lag(TUESDAY_10AM_NY, TUESDAY_10AM_NY + timedelta(seconds=90)) == 90
    assert dispatch_lag(TUESDAY_10AM_NY, TUESDAY_10AM_NY - timedelta(seconds=5)) == 0
