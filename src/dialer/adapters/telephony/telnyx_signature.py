"""Telnyx's webhook signature: Ed25519 over ``timestamp|raw body``.

Telnyx sends ``telnyx-timestamp`` (Unix seconds) and ``telnyx-signature-ed25519`` (the base64
signature of ``f"{timestamp}|"`` followed by the raw request body), made with the account's
private key; the account's public key (base64, 32 bytes) checks it. A timestamp older or newer
than ``tolerance`` seconds is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dialer.adapters.telephony.inbound import Inbound
from dialer.errors import InvalidInput, Problem

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
DEFAULT_TOLERANCE = 300.0  # seconds


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"|" + body


def sign(private_key: Ed25519PrivateKey, timestamp: str, body: bytes) -> str:
    return base64.b64encode(private_key.sign(signed_message(timestamp, body))).decode("ascii")


def key_from_secret(secret: str) -> Ed25519PrivateKey:
    """A private key derived from a secret string: the simulator's stable signing key."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(secret.encode()).digest())


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The base64 public key, as Telnyx shows it in its portal (TELNYX_PUBLIC_KEY)."""
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    """TELNYX_PUBLIC_KEY as a key; InvalidInput naming the variable when it is not one."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            Problem("TELNYX_PUBLIC_KEY", "must be the account's base64 Ed25519 public key")
        ) from exc


class TelnyxWebhookVerifier:
    def __init__(
        self,
        public_key: str,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._key = load_public_key(public_key)
        self._tolerance = tolerance
        self._now = now

    def verify_request(self, inbound: Inbound) -> bool:
        timestamp = inbound.header(TIMESTAMP_HEADER)
        try:
            signature = base64.b64decode(inbound.header(SIGNATURE_HEADER), validate=True)
            fresh = abs(self._now() - int(timestamp)) <= self._tolerance
        except (binascii.Error, ValueError):
            return False
        if not fresh:
            return False
        try:
            self._key.verify(signature, signed_message(timestamp, inbound.body))
        except InvalidSignature:
            return False
        return True
