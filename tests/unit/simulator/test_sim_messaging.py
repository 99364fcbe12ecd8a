"""The simulator's messaging pieces that need no server: segment counting, opt-out keywords,
the SMS and email settings, and the SMS observer's figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dialer.errors import InvalidInput
from dialer.simulator.config import SimulatorConfig, SmsOutcome, SmtpSinkOptions, config_from
from dialer.simulator.message_observer import SentSms, SmsObserver
from dialer.simulator.observer import Observer
from dialer.simulator.sms_wire import keyword, segments

TO, FROM, OTHER = "+14155550123", "+14155550100", "+14155550101"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("Grüße à Jörg: ¿Qué?!" * 8, 1),  # 160 characters, all in the GSM alphabet
        ("ç" + "a" * 70, 2),  # one character outside it makes the whole message UCS-2
        ("П" * 70, 1),  # UCS-2
        ("П" * 71, 2),
        ("П" * 134, 2),
        ("П" * 135, 3),
        ("😀" * 35, 1),  # beyond the BMP: two UCS-2 units each
        ("😀" * 36, 2),
    ],
)
def test_segments_are_counted_as_carriers_bill_them(body: str, expected: int) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "STOP"),
        (" stop\n", "STOP"),
        ("Unsubscribe", "STOP"),
        ("quit", "STOP"),
        ("start", "START"),
        ("YES", "START"),
        ("help", "HELP"),
        ("info", "HELP"),
        ("stop please", None),
        ("Thanks!", None),
    ],
)
def test_opt_out_keywords_are_twilios_whole_message_words(body: str, expected: str | None) -> None:
    assert keyword(body) == expected


# ---------------------------------------------------------------- settings


def test_sms_and_email_settings_come_from_json_and_go_back_to_it() -> None:
    config = SimulatorConfig().updated(
        {
            "sms_outcome_mix": {"delivered": 1, "failed": 0},
            "sms_outcome_overrides": {TO: "undelivered"},
            "sms_mps": 3,
            "sms_opted_out": [OTHER],
            "sms_replies": {TO: "HELP"},
            "sms_inbound_url": "http://127.0.0.1:9/inbound",
            "email_bounce_patterns": ["*@nowhere.example"],
            "email_unsubscribed": ["gone@example.com"],
        }
    )

    assert config.sms_outcome_mix == {SmsOutcome.DELIVERED: 1.0, SmsOutcome.FAILED: 0.0}
    assert config.sms_outcome_overrides == {TO: SmsOutcome.UNDELIVERED}
    assert (config.sms_mps, config.sms_opted_out, config.sms_replies) == (
        3.0,
        (OTHER,),
        {TO: "HELP"},
    )
    assert config.email_bounce_patterns == ("*@nowhere.example",)
    public = json.loads(json.dumps(config.public()))
    assert public["sms_outcome_overrides"] == {TO: "undelivered"}
    assert public["email_unsubscribed"] == ["gone@example.com"]
    assert config_from({k: v for k, v in public.items() if k != "auth_token"}) == config


def test_every_bad_sms_setting_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        config_from(
            {
                "sms_outcome_mix": {"delivered": 0},
                "sms_mps": 0,
                "sms_delay_min": 5,
                "sms_delay_max": 1,
                "sms_stop_rate": 2,
                "sms_reply_delay": -1,
                "sms_inbound_url": "ftp://x",
                "sms_opted_out": ["555-1234"],
                "sms_replies": {TO: " "},
                "email_unsubscribed": "gone@example.com",
            }
        )

    assert {problem.location for problem in caught.value.problems} == {
        "sms_outcome_mix",
        "sms_mps",
        "sms_delay_min",
        "sms_stop_rate",
        "sms_reply_delay",
        "sms_inbound_url",
        "sms_opted_out.555-1234",
        f"sms_replies.{TO}",
        "email_unsubscribed",
    }


def test_unknown_sms_outcomes_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        config_from({"sms_outcome_overrides": {TO: "read"}})

    assert [problem.location for problem in caught.value.problems] == ["sms_outcome_overrides"]


def test_smtp_options_need_a_port_in_range_and_both_credentials_or_neither() -> None:
    with pytest.raises(InvalidInput) as caught:
        SmtpSinkOptions(port=70000, username="dialer")

    assert {problem.location for problem in caught.value.problems} == {
        "smtp_port",
        "smtp_username",
    }
    assert SmtpSinkOptions(username="u", password="p").requires_auth
    assert not SmtpSinkOptions().requires_auth


# ---------------------------------------------------------------- the SMS observer


def sms(
    body: str = "Hi", *, to: str = TO, from_: str = FROM, at: float = 0.0, url: str | None = None
) -> SentSms:
    return SentSms("SM" + "0" * 32, to, from_, body, url, datetime(2026, 3, 3, tzinfo=UTC), at)


def test_sends_are_counted_per_whole_simulated_second_per_sender() -> None:
    observer = SmsObserver()
    for at in (0.1, 0.9, 1.0, 1.5, 1.99, 2.0):
        observer.accepted(sms(str(at), at=at))
    observer.accepted(sms("other", from_=OTHER, at=1.2))

    assert observer.snapshot()["max_per_second_by_sender"] == {FROM: 3, OTHER: 1}


def test_duplicates_are_found_by_to_from_and_body_and_by_the_status_callback() -> None:
    observer = SmsObserver()
    observer.accepted(sms("Hi Ann", url="http://d/cb?message=1"))
    observer.accepted(sms("Hi Ann", url="http://d/cb?message=2"))
    observer.accepted(sms("Hi Ann", from_=OTHER))
    observer.accepted(sms("Hello Ann", url="http://d/cb?message=1"))

    report = observer.snapshot()
    assert (report["duplicates"], report["repeated_status_callbacks"]) == (1, 1)
    assert report["duplicate_messages"] == [{"to": TO, "from": FROM, "body": "Hi Ann"}]
    assert len(report["messages"]) == 4


def test_messages_to_a_contact_who_stopped_any_sender_are_counted_until_start() -> None:
    observer = Observer()
    observer.sms.stopped(TO, FROM)
    observer.reset()  # who opted out is the world's state, not a window's figure
    observer.sms.accepted(sms(from_=OTHER))
    observer.sms.started(TO, FROM)
    observer.sms.accepted(sms(from_=OTHER))

    report = observer.snapshot()["sms"]
    assert (report["sent_to_opted_out"], report["sent_to_opted_out_numbers"]) == (1, [TO])
    assert report["opted_out"] == {}
