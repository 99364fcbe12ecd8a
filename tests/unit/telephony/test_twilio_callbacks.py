"""Twilio's status-callback form, read into provider-neutral events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.adapters.telephony.twilio import parse_status_callback
from dialer.domain.statuses import CallProgress
from dialer.errors import InvalidInput

FORM = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "2" * 32,
    "From": "+14155550100",
    "To": "+14155550123",
    "CallStatus": "completed",
    "Direction": "outbound-api",
    "ApiVersion": "2010-04-01",
    "CallbackSource": "call-progress-events",
    "SequenceNumber": "3",
    "Timestamp": "Tue, 10 Aug 2010 08:02:17 +0000",
    "CallDuration": "42",
    "Duration": "1",
    "SipResponseCode": "200",
}


@pytest.mark.parametrize(
    ("wire", "progress"),
    [
        ("queued", CallProgress.QUEUED),
        ("initiated", CallProgress.INITIATED),
        ("ringing", CallProgress.RINGING),
        ("in-progress", CallProgress.ANSWERED),
        ("completed", CallProgress.COMPLETED),
        ("busy", CallProgress.BUSY),
        ("no-answer", CallProgress.NO_ANSWER),
        ("failed", CallProgress.FAILED),
        ("canceled", CallProgress.CANCELED),
    ],
)
def test_every_twilio_call_status_maps_to_a_progress(wire: str, progress: CallProgress) -> None:
    assert parse_status_callback({**FORM, "CallStatus": wire}).progress is progress


def test_a_terminal_callback_carries_sequence_time_duration_and_cause() -> None:
    event = parse_status_callback(FORM)

    assert event.provider_call_id == FORM["CallSid"]
    assert event.sequence == 3
    assert event.occurred_at == datetime(2010, 8, 10, 8, 2, 17, tzinfo=UTC)
    assert event.duration == 42
    assert event.hangup_cause == "sip:200"
    assert event.raw == FORM
    assert event.dedupe_key == "completed:3"


def test_a_timestamp_in_another_offset_becomes_utc() -> None:
    event = parse_status_callback({**FORM, "Timestamp": "Tue, 10 Aug 2010 10:02:17 +0200"})

    assert event.occurred_at == datetime(2010, 8, 10, 8, 2, 17, tzinfo=UTC)
    assert event.occurred_at is not None
    assert event.occurred_at.utcoffset() is not None


def test_optional_fields_may_be_absent() -> None:
    form = {"CallSid": FORM["CallSid"], "CallStatus": "ringing"}

    event = parse_status_callback(form)

    assert (event.sequence, event.occurred_at, event.duration, event.hangup_cause) == (
        None,
        None,
        None,
        None,
    )


def test_an_unknown_status_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_status_callback({**FORM, "CallStatus": "exploded"})

    assert [p.location for p in caught.value.problems] == ["CallStatus"]
    assert "exploded" in str(caught.value)


def test_a_missing_sid_is_refused_naming_the_field() -> None:
    form = {k: v for k, v in FORM.items() if k != "CallSid"}

    with pytest.raises(InvalidInput) as caught:
        parse_status_callback(form)

    assert [p.location for p in caught.value.problems] == ["CallSid"]


def test_every_bad_field_is_reported_at_once() -> None:
    form = {
        "CallStatus": "",
        "SequenceNumber": "three",
        "CallDuration": "4.5",
        "Timestamp": "yesterday",
    }

    with pytest.raises(InvalidInput) as caught:
        parse_status_callback(form)

    assert {p.location for p in caught.value.problems} == {
        "CallSid",
        "CallStatus",
        "SequenceNumber",
        "CallDuration",
        "Timestamp",
    }
