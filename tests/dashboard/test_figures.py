"""How the dashboard turns counts into figures: ETA and its text, the completion rate, and the
field a rejected CSV row is blamed on."""

from __future__ import annotations

import pytest

from dialer.api.dashboard.imports import split_reason
from dialer.api.dashboard.live import (
    COMPLETION_WINDOW,
    CompletionRates,
    duration_text,
    eta_seconds,
)
from dialer.domain.statuses import CampaignStatus


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.0, "0s"), (44.2, "45s"), (60, "1m 00s"), (185, "3m 05s"), (7620, "2h 07m")],
)
def test_durations_read_like_a_clock(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_eta_is_remaining_over_the_completion_rate_and_unknown_without_one() -> None:
    running = CampaignStatus.RUNNING
    assert eta_seconds(running, 30, 1.5) == 20.0
    assert eta_seconds(running, 30, None) is None
    assert eta_seconds(running, 30, 0.0) is None
    assert eta_seconds(CampaignStatus.PAUSED, 30, 1.5) is None  # not moving: no estimate
    assert eta_seconds(CampaignStatus.PAUSED, 0, None) == 0.0  # nothing left


def test_the_completion_rate_needs_two_seconds_of_history_and_forgets_old_samples() -> None:
    rates = CompletionRates()
    assert rates.rate(1) is None
    rates.record(1, 100.0, 10)
    rates.record(1, 101.0, 12)
    assert rates.rate(1) is None  # one second is too little to tell
    rates.record(1, 102.0, 16)
    assert rates.rate(1) == pytest.approx(3.0)
    rates.record(1, 100.0 + COMPLETION_WINDOW + 1.5, 16)  # the first two samples age out
    assert rates.rate(1) == pytest.approx(0.0)
    assert rates.rate(2) is None


@pytest.mark.parametrize(
    ("where", "reason", "field", "rest"),
    [
        ("line 3", "phone: not a phone number", "phone", "not a phone number"),
        (
            "line 4",
            "timezone: unknown time zone 'Mars/Base'",
            "timezone",
            "unknown time zone 'Mars/Base'",
        ),
        ("line 5", "duplicate of line 2 (+1212…)", "phone", "duplicate of line 2 (+1212…)"),
        ("line 6", "expected 2 columns, found 3", "row", "expected 2 columns, found 3"),
        (
            "line 1",
            "the header has no 'phone' column",
            "header",
            "the header has no 'phone' column",
        ),
        ("file", "not UTF-8 text (byte 7)", "file", "not UTF-8 text (byte 7)"),
    ],
)
def test_a_rejection_names_its_field(where: str, reason: str, field: str, rest: str) -> None:
    assert split_reason(where, reason) == (field, rest)
