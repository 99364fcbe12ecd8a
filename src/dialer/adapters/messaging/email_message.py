"""The email of a message step, composed: headers (RFC 8058 one-click unsubscribe included), a
text part and an optional HTML alternative, as 7-bit bytes ready for SMTP DATA, with the
envelope addresses taken from the headers.

A problem with the contact's address is that message's refusal (``ProviderRejected``, as
Twilio's "invalid To" is); a problem with what the campaign configured (the sender, the
Message-ID domain, the unsubscribe URL) is ``InvalidInput`` naming the field.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from urllib.parse import urlsplit

from dialer.errors import InvalidInput, Problem, ProviderRejected
from dialer.ports.messaging import EmailRequest

MESSAGE_ID_PREFIX = "dialer-"
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058
_MESSAGE_ID = re.compile(rf"^<{MESSAGE_ID_PREFIX}(\d+)\.[0-9a-f]+@[^>]+>$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_URL_FORBIDDEN = re.compile(r"[\s<>]")
# Headers whose value is one URL in angle brackets: folding would break the URL, and the email
# package folds a long unbreakable value by turning it into RFC 2047 encoded words, which no
# mail client reads back as a URL. They are written on one line (RFC 5322 allows 998 octets).
_UNFOLDED = frozenset({"list-unsubscribe"})


@dataclass(frozen=True)
class OutgoingEmail:
    sender: str  # the envelope's MAIL FROM: the From header's address
    recipient: str  # the envelope's RCPT TO: the To header's address
    message_id: str  # the Message-ID header, angle brackets included
    content: bytes  # the whole message, CRLF line endings, 7-bit


class _CachedHeaderClasses(HeaderRegistry):
    """The email package's registry makes a new class (``type()``) on every header it parses,
    some 12 µs each, a tenth of composing an email: the classes are made once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


class _SmtpPolicy(EmailPolicy):
    """``email.policy.SMTP`` (CRLF, 7-bit) that leaves the unsubscribe URL unfolded."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _UNFOLDED:
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))  # typeshed gives Any here

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _UNFOLDED:
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


SMTP_POLICY = _SmtpPolicy(linesep="\r\n", cte_type="7bit", header_factory=_CachedHeaderClasses())


@functools.lru_cache(maxsize=4096)
def _parsed(name: str, value: str) -> BaseHeader:
    """A header whose value repeats from message to message (a step's From, its Subject when
    it names no contact field), parsed once: parsing is most of composing. Header objects
    are immutable, so messages can share them."""
    parsed: BaseHeader = SMTP_POLICY.header_factory(name, value)
    return parsed


def compose(request: EmailRequest, *, now: datetime | None = None) -> OutgoingEmail:
    """The request as a message ready to send."""
    message = EmailMessage(policy=SMTP_POLICY)
    sender, recipient = _addresses(message, request)
    message["Subject"] = _parsed("Subject", _one_line(request.subject))
    message["Date"] = now or datetime.now(UTC)
    message_id = message_id_for(request.message_id, request.message_domain)
    message["Message-ID"] = message_id
    message["List-Unsubscribe"] = f"<{_checked_url(request.unsubscribe_url)}>"
    message["List-Unsubscribe-Post"] = _parsed(
        "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"
    )
    _add_parts(message, request)
    return OutgoingEmail(sender, recipient, message_id, message.as_bytes())


def message_id_for(message_id: int, domain: str) -> str:
    """``<dialer-{message_id}.{random}@{domain}>``: our message row can be read back from a
    bounce or a reply (:func:`message_row_id`); the random part keeps the id unique across
    databases that share the domain, as RFC 5322 asks."""
    if not _DOMAIN.match(domain):
        raise InvalidInput(Problem("message_domain", f"{domain!r} is not a domain name"))
    return f"<{MESSAGE_ID_PREFIX}{message_id}.{secrets.token_hex(8)}@{domain}>"


def message_row_id(message_id_header: str) -> int | None:
    """Our message row's id in a Message-ID we generated (as quoted in a bounce's
    In-Reply-To or References); None for any other Message-ID."""
    found = _MESSAGE_ID.match(message_id_header.strip())
    return int(found.group(1)) if found else None


def _addresses(message: EmailMessage, request: EmailRequest) -> tuple[str, str]:
    """From and To set; the envelope's sender and recipient returned."""
    sender = _set_address(message, "From", request.from_, repeats=True)
    if sender is None:
        raise InvalidInput(Problem("from", f"{request.from_!r} is not one ASCII email address"))
    recipient = _set_address(message, "To", request.to)
    if recipient is None:
        raise ProviderRejected(f"{request.to!r} is not one ASCII email address")
    return sender, recipient


def _add_parts(message: EmailMessage, request: EmailRequest) -> None:
    # Quoted-printable keeps every line short and 7-bit, whatever the server supports.
    message.set_content(request.text, cte="quoted-printable")
    if request.html is not None:
        message.add_alternative(request.html, subtype="html", cte="quoted-printable")


def _set_address(message: EmailMessage, name: str, value: str, repeats: bool = False) -> str | None:
    """Put one address in header ``name`` and return its addr-spec; None for a value the email
    package cannot read, several addresses, or a non-ASCII one (which would need SMTPUTF8).
    ``repeats``: the same value comes again in other messages (the sender)."""
    try:
        message[name] = _parsed(name, value) if repeats else value
        header = message[name]
        addresses = header.addresses
    except (ValueError, IndexError):  # IndexError: the parser's own, on "bob@"
        return None
    if len(addresses) != 1 or header.defects or not _plain(addresses[0]):
        return None
    return str(addresses[0].addr_spec)


def _plain(address: Address) -> bool:
    return bool(address.username and address.domain and address.addr_spec.isascii())


def _one_line(text: str) -> str:
    """A subject rendered from contact attributes may hold line breaks: a header may not."""
    return " ".join(text.splitlines())


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(Problem("unsubscribe_url", "must be an http(s) URL"))
    if _URL_FORBIDDEN.search(url) or not url.isascii():
        raise InvalidInput(Problem("unsubscribe_url", "must be ASCII without spaces or <>"))
    return url
