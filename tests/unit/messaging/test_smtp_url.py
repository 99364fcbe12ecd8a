"""DIALER_SMTP_URL read into a server to reach; errors that never repeat the password."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.adapters.messaging.smtp import SmtpSender
from dialer.adapters.messaging.smtp_url import SmtpServer, parse_smtp_url
from dialer.errors import InvalidInput

SECRET = "hunter2-secret"


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, False)),
        ("smtp://mail.example.com:587/", SmtpServer("mail.example.com", 587, False)),
        ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, True)),
        ("SMTPS://Mail.Example.com:2465", SmtpServer("mail.example.com", 2465, True)),
        ("smtp://[::1]:2525", SmtpServer("::1", 2525, False)),
        (
            "smtp://apikey:p%40ss%3Aword@smtp.example.com:587",
            SmtpServer("smtp.example.com", 587, False, "apikey", "p@ss:word"),
        ),
        ("smtp://user@relay.local", SmtpServer("relay.local", 25, False, "user", None)),
    ],
)
def test_a_url_names_its_server(url: str, server: SmtpServer) -> None:
    assert parse_smtp_url(url) == server


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{SECRET}@mail.example.com",
        f"smtp://user:{SECRET}@",
        f"smtp://user:{SECRET}@mail.example.com:port",
        f"smtp://user:{SECRET}@mail.example.com:0",
        f"smtp://user:{SECRET}@mail.example.com:70000",
        f"smtp://user:{SECRET}@mail.example.com/inbox",
        f"smtp://user:{SECRET}@mail.example.com?tls=yes",
        "not a url",
        "",
    ],
)
def test_a_malformed_url_is_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        SmtpSender.from_url(url)

    assert [p.location for p in invalid.value.problems] == ["DIALER_SMTP_URL"]
    assert SECRET not in str(invalid.value)


def test_the_password_is_not_in_the_servers_repr() -> None:
    assert SECRET not in repr(parse_smtp_url(f"smtp://user:{SECRET}@mail.example.com"))


@pytest.mark.parametrize("options", [{"pool_size": 0}, {"timeout": 0}])
def test_the_pool_needs_room_and_time(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        SmtpSender.from_url("smtp://mail.example.com", **options)
