"""Twilio's webhook signature (``X-Twilio-Signature``), computing and checking it.

The scheme: take the full URL Twilio requested (query string included), append every POST
parameter as ``name + value`` in parameter-name order, HMAC-SHA1 the result with the account's
auth token, and base64 the digest. The simulator signs with :func:`sign`; the webhook endpoint
checks with :class:`TwilioWebhookVerifier`.

Like Twilio's own helper libraries, the check accepts the URL with and without its port, because
a proxy in front of the app may add or drop it: ``https://x.example/cb`` and
``https://x.example:443/cb`` are the same URL to Twilio.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from dialer.adapters.telephony.inbound import Inbound

SIGNATURE_HEADER = "X-Twilio-Signature"


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio sends for a POST of ``params`` to ``url``."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TwilioWebhookVerifier:
    """Checks ``X-Twilio-Signature`` on status callbacks, in constant time."""

    def __init__(self, auth_token: str) -> None:
        self._auth_token = auth_token

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        expected = signature.encode()
        # Check every variant, no early exit: the time taken does not depend on which matched.
        matches = [
            hmac.compare_digest(sign(self._auth_token, variant, params).encode(), expected)
            for variant in url_variants(url)
        ]
        return any(matches)

    def verify_request(self, inbound: Inbound) -> bool:
        return self.verify(inbound.url, inbound.form(), inbound.header(SIGNATURE_HEADER))


def url_variants(url: str) -> tuple[str, ...]:
    """``url`` as given, without its port, and with the scheme's default port made explicit."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return (url,)
    host = parts.netloc.rpartition("@")[2]
    bare_host = host.rsplit(":", 1)[0] if parts.port is not None else host
    default_port = 443 if parts.scheme == "https" else 80
    without_port = urlunsplit(parts._replace(netloc=_with_host(parts.netloc, bare_host)))
    port = parts.port if parts.port is not None else default_port
    with_port = urlunsplit(parts._replace(netloc=_with_host(parts.netloc, f"{bare_host}:{port}")))
    return tuple(dict.fromkeys((url, without_port, with_port)))


def _with_host(netloc: str, host: str) -> str:
    userinfo, at, _ = netloc.rpartition("@")
    return f"{userinfo}{at}{host}"
