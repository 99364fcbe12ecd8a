"""Plivo's webhook signature V3 (``X-Plivo-Signature-V3`` with ``X-Plivo-Signature-V3-Nonce``).

The signed string, for a POST (the rule of Plivo's own ``validate_v3_signature``):

    scheme://host[:port]/path            the URL without its query
    + "?" + sorted query "k=v&k=v"       when there are POST parameters or a query string
    + "."                                when there are both
    + "".join(name + value ...)          the POST parameters, sorted by name
    + "." + nonce

HMAC-SHA256 with the auth token, base64. The header may carry several signatures separated by
commas (one per token of the account and its parent); any one of them matching is enough.
Like the Twilio check, the URL is also tried without and with its default port, for proxies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from dialer.adapters.telephony.inbound import Inbound
from dialer.adapters.telephony.twilio_signature import url_variants

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


def signed_string(url: str, params: Mapping[str, str]) -> str:
    """What Plivo signs for a POST of ``params`` to ``url`` (before the nonce)."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = parse_qs(parts.query, keep_blank_values=True)
    sorted_query = "&".join(
        f"{name}={value}" for name in sorted(query) for value in sorted(query[name])
    )
    if params:
        base += f"?{sorted_query}" + ("." if sorted_query else "")
        return base + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base + (f"?{sorted_query}" if sorted_query else "")


def sign(auth_token: str, url: str, params: Mapping[str, str], nonce: str) -> str:
    message = f"{signed_string(url, params)}.{nonce}"
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def new_nonce() -> str:
    return secrets.token_hex(10)


class PlivoWebhookVerifier:
    """Checks a Plivo callback's V3 signature, in constant time."""

    def __init__(self, auth_token: str) -> None:
        self._auth_token = auth_token

    def verify_request(self, inbound: Inbound) -> bool:
        nonce = inbound.header(NONCE_HEADER)
        offered = [s.strip().encode() for s in inbound.header(SIGNATURE_HEADER).split(",")]
        if not nonce or not any(offered):
            return False
        params = inbound.form()
        expected = [
            sign(self._auth_token, variant, params, nonce).encode()
            for variant in url_variants(inbound.url)
        ]
        # Every pair is compared, no early exit: the time does not tell which one matched.
        matches = [hmac.compare_digest(e, o) for e in expected for o in offered]
        return any(matches)
