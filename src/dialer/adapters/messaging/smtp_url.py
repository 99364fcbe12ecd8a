"""Where and how to reach the SMTP server, read from one URL:

    smtp://user:password@host:port     plain TCP, upgraded by STARTTLS when the server offers it
    smtps://user:password@host:port    TLS from the first byte (implicit TLS)

The port defaults to the scheme's registered one: 25 for ``smtp`` (write ``:587`` for a
submission server) and 465 for ``smtps``. The user name and password are percent-decoded, so
a password may hold ``@`` or ``:`` written as ``%40`` or ``%3A``. An error never repeats the
URL, which holds the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit

from dialer.errors import InvalidInput, Problem

SETTING = "DIALER_SMTP_URL"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpServer:
    """The server ``url`` names; ``InvalidInput`` on ``DIALER_SMTP_URL`` when it names none."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _invalid("the scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise _invalid("the host is missing")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _invalid("expected no path, query or fragment after the host and port")
    return SmtpServer(
        host=parts.hostname,
        port=_port(parts) or DEFAULT_PORTS[scheme],
        implicit_tls=scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _port(parts: SplitResult) -> int | None:
    try:
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError:
        port = 0
    if port == 0:
        raise _invalid("the port must be a number from 1 to 65535")
    return port


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(Problem(SETTING, message))
