"""How the dashboard turns counts into figures: ETA and its text, the completion rate, and the
field a rejected CSV row is blamed on."""

from __future__ import annotations

import httpx
import pytest

from dialer.api.dashboard.imports import split_reason
from dialer.api.dashboard.live import (
    COMPLETION_WINDOW,
    CompletionRates,
    Rate,
    duration_text,
    eta_seconds,
    pace,
)
from dialer.domain.statuses import CampaignStatus
from tests.support.api import Keys, new_campaign
from tests.support.dashboard import sign_in


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


def test_the_eta_is_the_remaining_leads_over_the_completion_rate_shown_beside_it() -> None:
    # The case of a screenshot: 13 left, 10 calls started in 30 s, 4 leads finished in the
    # 3 s this process had watched. Both rates are shown, each with its window, and the ETA
    # follows from the figures on the page.
    running = CampaignStatus.RUNNING
    figures = pace(running, 13, 10 / 30, Rate(4 / 3, 3.2))
    text = figures["text"]
    assert text["rate"] == "0.33"  # calls started per second, last 30 s
    assert (text["completion"], text["completion-window"]) == ("1.33", "last 3 s")
    assert figures["numbers"]["eta_seconds"] == pytest.approx(13 / float(text["completion"]))
    assert text["eta"] == "10s"

    slow = pace(running, 13, 0.5, Rate(0.004, 30.0))["text"]
    assert (slow["completion"], slow["eta"]) == ("0.00", "—")  # no ETA from a rate shown as 0
    unknown = pace(running, 13, 0.5, None)["text"]
    assert unknown == {
        "rate": "0.50",
        "completion": "—",
        "completion-window": "not measured yet",
        "eta": "—",
    }
    assert pace(CampaignStatus.PAUSED, 13, 0.0, Rate(1.0, 30.0))["text"]["eta"] == "—"


def test_the_measured_rate_names_the_span_it_covers() -> None:
    rates = CompletionRates()
    rates.record(1, 100.0, 10)
    rates.record(1, 105.5, 21)
    assert rates.measured(1) == Rate(2.0, 5.5)
    for second in range(110, 160, 5):  # one more lead every 5 s
        rates.record(1, float(second), 21 + (second - 105) // 5)
    assert rates.measured(1) == Rate(0.2, COMPLETION_WINDOW)  # the window caps the span


async def test_the_campaign_page_labels_each_rate_and_how_the_eta_is_computed(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    campaign = await new_campaign(client, keys.operator)
    await sign_in(client, keys.viewer)
    page = (await client.get(f"/dashboard/campaigns/{campaign['id']}")).text
    assert "Calls started/s (last 30 s)" in page
    assert '<span data-field="completion-window">not measured yet</span>' in page
    assert 'data-field="completion" data-testid="completion">—</dd>' in page
    assert "ETA (remaining ÷ leads finished/s)" in page


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
        ("line 7", "name: contains a control character", "name", "contains a control character"),
        ("line 8", "tags: longer than 4,096 characters", "tags", "longer than 4,096 characters"),
    ],
)
def test_a_rejection_names_its_field(where: str, reason: str, field: str, rest: str) -> None:
    assert split_reason(where, reason) == (field, rest)
