"""The email of a message step as composed for SMTP: headers, parts, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from dialer.adapters.messaging.email_message import compose, message_id_for, message_row_id
from dialer.errors import InvalidInput, ProviderRejected
from dialer.ports.messaging import EmailRequest

UNSUBSCRIBE = "https://dialer.example.com/unsubscribe/42/" + "t" * 120
NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)


def request(**changes: Any) -> EmailRequest:
    values: dict[str, Any] = {
        "message_id": 42,
        "to": "ann@example.com",
        "from_": "Acme Dental <hello@acme.example>",
        "subject": "We missed you",
        "text": "Hi Ann,\nwe tried to call you.",
        "html": "<p>Hi Ann, we tried to call you.</p>",
        "unsubscribe_url": UNSUBSCRIBE,
        "message_domain": "mail.acme.example",
        **changes,
    }
    return EmailRequest(**values)


def parsed(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_envelope_and_headers_come_from_the_request() -> None:
    email = compose(request(), now=NOW)
    message = parsed(email.content)

    assert (email.sender, email.recipient) == ("hello@acme.example", "ann@example.com")
    assert message["From"] == "Acme Dental <hello@acme.example>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "We missed you"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == email.message_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_unsubscribe_url_stays_on_one_line_however_long() -> None:
    content = compose(request()).content

    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>\r\n".encode() in content


def test_the_content_is_seven_bit_with_crlf_and_short_lines() -> None:
    content = compose(request(text="Bonjour Zoé, " * 40, subject="Ça va ?")).content

    assert content.isascii()
    assert b"\n" not in content.replace(b"\r\n", b"")
    assert max(len(line) for line in content.split(b"\r\n")) <= 998
    message = parsed(content)
    assert message["Subject"] == "Ça va ?"
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content().strip() == ("Bonjour Zoé, " * 40).strip()


def test_text_and_html_are_alternatives() -> None:
    message = parsed(compose(request()).content)
    text, html = message.get_body(("plain",)), message.get_body(("html",))

    assert message.get_content_type() == "multipart/alternative"
    assert text is not None
    assert html is not None
    # Line breaks are CRLF on the wire, and quoted-printable decoding keeps them.
    assert text.get_content() == "Hi Ann,\r\nwe tried to call you.\r\n"
    assert html.get_content() == "<p>Hi Ann, we tried to call you.</p>\r\n"


def test_without_html_there_is_one_text_part() -> None:
    assert parsed(compose(request(html=None)).content).get_content_type() == "text/plain"


def test_line_breaks_in_the_subject_become_spaces() -> None:
    message = parsed(compose(request(subject="Hi Ann\r\nBcc: x@evil.example")).content)

    assert message["Subject"] == "Hi Ann Bcc: x@evil.example"
    assert message["Bcc"] is None


def test_the_message_id_holds_our_message_id_and_differs_each_time() -> None:
    first, second = message_id_for(42, "mail.acme.example"), message_id_for(42, "mail.acme.example")

    assert first != second
    assert first.startswith("<dialer-42.")
    assert first.endswith("@mail.acme.example>")
    assert message_row_id(first) == message_row_id(second) == 42


@pytest.mark.parametrize(
    "foreign", ["<CAF=abc@mail.gmail.com>", "<dialer-x.1@d>", "dialer-42.ab@d", ""]
)
def test_a_message_id_we_did_not_make_has_no_row(foreign: str) -> None:
    assert message_row_id(foreign) is None


@pytest.mark.parametrize(
    "to", ["ann at example dot com", "", "a@example.com, b@example.com", "ann@", "zoé@example.com"]
)
def test_a_recipient_that_is_not_one_ascii_address_is_rejected(to: str) -> None:
    with pytest.raises(ProviderRejected):
        compose(request(to=to))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from_": "Acme <not an address>"}, "from"),
        ({"message_domain": "mail acme"}, "message_domain"),
        ({"message_domain": ""}, "message_domain"),
        ({"unsubscribe_url": "mailto:stop@acme.example"}, "unsubscribe_url"),
        ({"unsubscribe_url": "https://x.example/a b"}, "unsubscribe_url"),
        ({"unsubscribe_url": "https://x.example/a>b"}, "unsubscribe_url"),
    ],
)
def test_a_bad_campaign_setting_is_invalid_input_naming_it(
    changes: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        compose(request(**changes))

    assert [p.location for p in invalid.value.problems] == [field]
