"""URLs a campaign hands to the telephony provider (``answer_url``): what shape they must have,
and which hosts they must not name.

The provider fetches these URLs, and so may a self-hosted provider or a simulator inside our own
network: a URL naming a cloud metadata service or an internal address would make it fetch from
there. Only literal addresses and well-known names are judged here; nothing is resolved.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2000
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
# Hosts that are IPv4 addresses written in another form (decimal, octal, hex): many HTTP clients
# read them as addresses, so they cannot be judged as names.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9.]+)(\.(0x[0-9a-f]+|[0-9]+))*\.?$")
_INTERNAL_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local")


def check_http_url(url: str) -> str:
    """The URL if it is http(s) with a host; ValueError saying what is wrong otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"a URL can be at most {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARACTERS.search(url):
        raise ValueError("a URL cannot contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError(f"expected an http or https URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("the URL needs a host (https://host/path)")
    _check_port(parts)
    return url


def _check_port(parts: SplitResult) -> None:
    try:
        parts.port  # noqa: B018  (reading it validates it)
    except ValueError as exc:
        raise ValueError(f"the URL's port is not valid: {exc}") from exc


def internal_host_reason(url: str) -> str | None:
    """Why the URL's host is internal (loopback, private, link-local, cloud metadata ...), or
    None when it is an ordinary public name or address."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES):
        return f"{host!r} is an internal or cloud metadata host name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.match(host):
            return f"{host!r} is an address in an unusual form; write it as a dotted address"
        return None
    return _address_reason(address)


def _address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return f"{address} is a link-local address (where cloud metadata services answer)"
    if address.is_loopback or address.is_unspecified:
        return f"{address} is this machine's own address"
    if address.is_private or address.is_reserved or address.is_multicast:
        return f"{address} is a private or reserved address"
    return None


def address_reason(address: str) -> str | None:
    """Why an address a host name resolved to must not be fetched (see ``_address_reason``),
    or None for a public address."""
    return _address_reason(ipaddress.ip_address(address))
