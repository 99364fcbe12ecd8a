"""What Twilio posts about messages (status callbacks, inbound replies), read into the
messaging port's provider-neutral words; and their signatures, checked by the call code."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from dialer.adapters.messaging.twilio_sms import (
    accepted_from_resource,
    inbound_from_form,
    message_event_from_form,
    verify,
)
from dialer.errors import InvalidInput, ProviderOutcomeUnknown
from dialer.ports.messaging import MessageProgress

SID = "SM" + "1" * 32
STATUS = {
    "MessageSid": SID,
    "SmsSid": SID,
    "AccountSid": "AC" + "2" * 32,
    "From": "+14155550100",
    "To": "+14155550123",
    "MessageStatus": "delivered",
    "SmsStatus": "delivered",
    "ApiVersion": "2010-04-01",
}
INBOUND = {
    "MessageSid": SID,
    "AccountSid": "AC" + "2" * 32,
    "From": "+14155550123",
    "To": "+14155550100",
    "Body": "STOP",
    "NumMedia": "0",
}
TOKEN = "12345"
URL = "https://dialer.example.com/webhooks/twilio/messages/status?m=42"


@pytest.mark.parametrize(
    ("wire", "progress"),
    [
        ("accepted", MessageProgress.QUEUED),
        ("queued", MessageProgress.QUEUED),
        ("sending", MessageProgress.QUEUED),
        ("sent", MessageProgress.SENT),
        ("delivered", MessageProgress.DELIVERED),
        ("read", MessageProgress.DELIVERED),
        ("undelivered", MessageProgress.UNDELIVERED),
        ("failed", MessageProgress.FAILED),
    ],
)
def test_each_message_status_maps_to_its_progress(wire: str, progress: MessageProgress) -> None:
    event = message_event_from_form({**STATUS, "MessageStatus": wire})

    assert event.provider_message_id == SID
    assert event.progress is progress
    assert event.error_code is None
    assert event.raw["MessageStatus"] == wire


def test_the_error_code_of_an_undelivered_message_is_kept() -> None:
    event = message_event_from_form(
        {**STATUS, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )

    assert event.error_code == "30003"


def test_an_empty_error_code_is_none() -> None:
    assert message_event_from_form({**STATUS, "ErrorCode": ""}).error_code is None


def test_an_unknown_status_is_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as invalid:
        message_event_from_form({**STATUS, "MessageStatus": "teleported"})

    assert [p.location for p in invalid.value.problems] == ["MessageStatus"]
    assert "teleported" in str(invalid.value)


def test_a_form_without_sid_or_status_names_both() -> None:
    with pytest.raises(InvalidInput) as invalid:
        message_event_from_form({"AccountSid": "AC" + "2" * 32})

    assert [p.location for p in invalid.value.problems] == ["MessageSid", "MessageStatus"]


def test_an_inbound_reply_is_read() -> None:
    inbound = inbound_from_form(INBOUND)

    assert inbound.provider_message_id == SID
    assert (inbound.from_, inbound.to, inbound.body) == ("+14155550123", "+14155550100", "STOP")


def test_an_inbound_without_text_has_an_empty_body() -> None:
    form = {k: v for k, v in INBOUND.items() if k != "Body"}

    assert inbound_from_form(form).body == ""


def test_an_inbound_without_its_numbers_names_them() -> None:
    with pytest.raises(InvalidInput) as invalid:
        inbound_from_form({"MessageSid": SID, "Body": "hi"})

    assert [p.location for p in invalid.value.problems] == ["From", "To"]


def test_a_signature_of_twilios_own_library_is_accepted() -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, STATUS)

    assert verify(URL, STATUS, signature, TOKEN)
    assert verify(URL.replace(".com/", ".com:443/"), STATUS, signature, TOKEN)  # proxy's port


@pytest.mark.parametrize(
    ("url", "form", "token"),
    [
        (URL, {**STATUS, "MessageStatus": "failed"}, TOKEN),  # a tampered value
        (URL.replace("m=42", "m=43"), STATUS, TOKEN),  # another message
        (URL, STATUS, "another-token"),
    ],
)
def test_a_tampered_or_foreign_callback_is_refused(
    url: str, form: dict[str, str], token: str
) -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, STATUS)

    assert not verify(url, form, signature, token)


def test_an_accepted_resource_gives_sid_progress_and_segments() -> None:
    accepted = accepted_from_resource({"sid": SID, "status": "accepted", "num_segments": "3"})

    assert (accepted.provider_message_id, accepted.progress, accepted.segments) == (
        SID,
        MessageProgress.QUEUED,
        3,
    )


def test_an_accepted_resource_with_a_status_we_do_not_know_is_queued() -> None:
    accepted = accepted_from_resource({"sid": SID, "status": "scheduled"})

    assert accepted.progress is MessageProgress.QUEUED
    assert accepted.segments is None


def test_an_accepted_resource_without_sid_is_an_unknown_outcome() -> None:
    with pytest.raises(ProviderOutcomeUnknown):
        accepted_from_resource({"status": "queued"})
