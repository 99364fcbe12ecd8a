"""One status callback on its way to the engine, in whichever provider's wire format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """One callback to send: signed afresh at each delivery (a timestamp or nonce may change)."""

    url: str
    body: bytes
    content_type: str
    call_id: str
    form: Mapping[str, str] | None = None  # the decoded form, for form dialects
