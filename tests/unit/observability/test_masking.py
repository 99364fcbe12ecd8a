"""The last line of defence: number-like text is masked in every field of every record."""

from __future__ import annotations

import logging

import pytest

from dialer.observability.logs import mask_phone_numbers, mask_text
from tests.support.logs import CapturedLogs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("calling +14155550123 now", "calling +1415*****23 now"),
        ("to=+442079460123.", "to=+4420******23."),
        ("national 4155550123", "national 4155****23"),
        ("written (415) 555-0123 by hand", "written 4155****23 by hand"),
        ("dotted 415.555.0123", "dotted 4155****23"),
        ("with country +1 415-555-0123", "with country +1415*****23"),
    ],
)
def test_number_like_text_is_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "attempt 12 of lead 345678",  # short numbers are ids, not phones
        "CA0123456789abcdef0123456789abcdef",  # a provider call id
        "2026-11-24T10:00:00.123456Z",  # a timestamp
        "request 9f1c2d3e4b5a69788796a5b4c3d2e1f0",  # a hex id
        "+1415*****23",  # already masked
    ],
)
def test_what_is_not_a_number_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_the_processor_masks_nested_fields_and_keeps_our_ids() -> None:
    event = {
        "event": "sent +14155550123",
        "numbers": ["+14155550123", {"to": "+12125550142"}],
        "request_id": "12345678901",  # ours: searchable as it is
        "attempts": 12345678901,  # not text: left as it is
    }
    masked = mask_phone_numbers(None, "info", event)
    assert masked == {
        "event": "sent +1415*****23",
        "numbers": ["+1415*****23", {"to": "+1212*****42"}],
        "request_id": "12345678901",
        "attempts": 12345678901,
    }


def test_a_number_in_a_message_or_a_traceback_never_reaches_the_log(
    json_logs: CapturedLogs,
) -> None:
    log = logging.getLogger("dialer.test")
    log.warning("could not call %s", "+14155550123")
    try:
        raise ValueError("bad number +12125550142")
    except ValueError:
        log.exception("failed for %s", "2125550142")
    records = json_logs.records()
    assert [r["event"] for r in records] == ["could not call +1415*****23", "failed for 2125****42"]
    assert "ValueError: bad number +1212*****42" in records[1]["exception"]
    for raw in ("4155550123", "2125550142"):
        assert raw not in json_logs.text
