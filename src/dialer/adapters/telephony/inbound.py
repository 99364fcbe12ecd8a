"""One provider webhook as received, and the verifier of whole requests.

Twilio signs the URL and the form's parameters; Plivo signs them with a nonce sent in another
header; Telnyx signs a timestamp header and the raw JSON body. So a verifier gets the whole
request: the public URL the provider called, the headers and the body's bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Inbound:
    url: str  # the public URL the provider requested, query string included
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def form(self) -> dict[str, str]:
        """The body as an url-encoded form (the last value of a repeated name)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@runtime_checkable
class RequestVerifier(Protocol):
    def verify_request(self, inbound: Inbound) -> bool:
        """True when the request carries the provider's valid signature."""
        ...
