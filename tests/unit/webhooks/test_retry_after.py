"""An endpoint's Retry-After header, as RFC 9110 writes it: whole seconds or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from dialer.adapters.webhooks.http import retry_after

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(datetime(2026, 12, 3, 15, 1, 30, tzinfo=UTC), usegmt=True), 90.0),
        (format_datetime(datetime(2026, 12, 3, 14, 0, tzinfo=UTC), usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_the_wait_asked_for(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW.timestamp()) == seconds
