"""How late a lead is dispatched: measured from the instant it became callable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dialer.domain.window import CallingWindow


def callable_since(
    due_at: datetime | None,
    running_since: datetime,
    start_at: datetime | None,
    window: CallingWindow,
    zones: Sequence[str],
) -> datetime:
    """The first instant a lead could be called: it was due, its campaign was running (and
    past its start), and its calling window was open. A lead due at night became callable
    when the window opened in the morning, not when it became due."""
    since = max(t for t in (due_at, running_since, start_at) if t is not None)
    if window.is_open(since, zones):
        return since
    return window.next_open(since, zones) or since


def dispatch_lag(callable_at: datetime, dispatched_at: datetime) -> float:
    """Seconds between the two, never negative (a lead claimed as it became due is on time)."""
    return max(0.0, (dispatched_at - callable_at).total_seconds())
