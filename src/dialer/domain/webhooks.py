"""Outbound event webhooks: the event types, their signature (Standard Webhooks) and the
back-off between deliveries. Pure: the secret's randomness and the clock come from callers.

A signature is ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` keyed with the
decoded part of a ``whsec_<base64>`` secret, as https://www.standardwebhooks.com specifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
EVENT_VERSION = 1  # the version of every event's schema; a breaking change raises it

ATTEMPT_STARTED = "attempt.started"
ATTEMPT_ANSWERED = "attempt.answered"
ATTEMPT_ENDED = "attempt.ended"
LEAD_FINISHED = "lead.finished"
CAMPAIGN_STATE_CHANGED = "campaign.state_changed"
DEAD_LETTER_CREATED = "dead_letter.created"
MESSAGE_DELIVERED = "message.delivered"
# Not an outbox event: a campaign's pre-dial hook asks the endpoint subscribed to it, at once
PRE_DIAL = "attempt.pre_dial"
TEST_EVENT = "webhook.test"  # sent on request to one endpoint; nobody subscribes to it
EVENT_TYPES = (
    ATTEMPT_STARTED,
    ATTEMPT_ANSWERED,
    ATTEMPT_ENDED,
    LEAD_FINISHED,
    CAMPAIGN_STATE_CHANGED,
    DEAD_LETTER_CREATED,
    MESSAGE_DELIVERED,
    PRE_DIAL,
)


def secret_from(raw: bytes) -> str:
    """A ``whsec_`` secret holding these random bytes."""
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry of the ``webhook-signature`` header."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Every secret's signature, space-separated: during a rotation's overlap a receiver
    holding either secret finds one it can verify."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter (a delay drawn between 0 and the doubled
    ceiling), until the event is ``horizon`` seconds old; then the delivery is dead."""

    horizon: float = 24 * 3600.0
    base: float = 5.0
    ceiling: float = 3600.0

    def delay(self, tries: int, rng: random.Random) -> float:
        """The pause after the ``tries``-th failed try (1 for the first)."""
        cap = min(self.ceiling, self.base * 2.0 ** max(tries - 1, 0))
        return rng.uniform(0, cap)


@dataclass(frozen=True)
class BreakerPolicy:
    """An endpoint that failed ``failures`` times in a row is paused ``pause`` seconds (its
    deliveries wait); then one delivery probes it, and a success closes the breaker."""

    failures: int = 5
    pause: float = 60.0

    def opens(self, failures_in_a_row: int) -> bool:
        return failures_in_a_row >= self.failures
