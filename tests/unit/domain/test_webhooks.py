"""Webhook signatures as Standard Webhooks defines them (checked against the
``standardwebhooks`` package, both ways), and the retry back-off's bounds."""

from __future__ import annotations

import base64
import random
import time

import pytest
from standardwebhooks import Webhook

from dialer.domain.webhooks import BreakerPolicy, RetryPolicy, secret_from, sign, signature_header

SECRET = secret_from(b"0123456789abcdef01234567")
OTHER = secret_from(b"another secret, 24 bytes")


def test_a_signature_verifies_with_the_standard_library() -> None:
    body = b'{"type":"lead.finished","data":{"lead_id":7}}'
    now = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SECRET, "evt_1", now, body),
    }
    assert Webhook(SECRET).verify(body, headers)["data"] == {"lead_id": 7}


def test_both_secrets_sign_during_an_overlap() -> None:
    body, now = b"{}", int(time.time())
    header = signature_header([OTHER, SECRET], "evt_2", now, body)
    headers = {"webhook-id": "evt_2", "webhook-timestamp": str(now), "webhook-signature": header}
    for secret in (SECRET, OTHER):
        Webhook(secret).verify(body, headers)
    assert len(header.split(" ")) == 2


def test_the_secret_holds_the_random_bytes() -> None:
    assert SECRET.startswith("whsec_")
    assert base64.b64decode(SECRET.removeprefix("whsec_")) == b"0123456789abcdef01234567"


@pytest.mark.parametrize("tries", [1, 2, 5, 12, 30])
def test_the_back_off_is_drawn_below_a_doubling_ceiling(tries: int) -> None:
    policy = RetryPolicy(base=5, ceiling=3600)
    rng = random.Random(tries)
    cap = min(3600, 5 * 2 ** (tries - 1))
    delays = [policy.delay(tries, rng) for _ in range(500)]
    assert all(0 <= d <= cap for d in delays)
    assert max(delays) > cap * 0.9  # full jitter: the whole range is used


def test_the_breaker_opens_after_failures_in_a_row() -> None:
    breaker = BreakerPolicy(failures=3)
    assert not breaker.opens(2)
    assert breaker.opens(3)
