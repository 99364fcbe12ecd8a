"""Our signature scheme agrees with Twilio's official helper library, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier, sign

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
forms = st.dictionaries(names, values, max_size=8)
paths = st.text("abcdefghijklmnopqrstuvwxyz0123456789/-_", max_size=20)


@given(form=forms, path=paths, token=st.text(min_size=1, max_size=40))
def test_sign_equals_the_official_signature(form: dict[str, str], path: str, token: str) -> None:
    url = f"https://dialer.example.com/{path}?attempt=42"

    assert sign(token, url, form) == RequestValidator(token).compute_signature(url, form)


@given(form=forms)
def test_each_side_accepts_the_other_sides_signature(form: dict[str, str]) -> None:
    ours, official = TwilioWebhookVerifier(TOKEN), RequestValidator(TOKEN)

    assert ours.verify(URL, form, official.compute_signature(URL, form))
    assert official.validate(URL, form, sign(TOKEN, URL, form))


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (URL, {**PARAMS, "To": "+18005551213"}),  # a tampered value
        (URL, {**PARAMS, "Extra": "1"}),  # an added parameter
        (URL, {k: v for k, v in PARAMS.items() if k != "Digits"}),  # a removed one
        ("https://mycompany.com/myapp.php?foo=1&bar=3", PARAMS),  # a tampered query
        ("https://evil.example.com/myapp.php?foo=1&bar=2", PARAMS),  # another host
        ("http://mycompany.com/myapp.php?foo=1&bar=2", PARAMS),  # another scheme
    ],
)
def test_tampering_fails_both_validators(url: str, params: dict[str, str]) -> None:
    signature = sign(TOKEN, URL, PARAMS)

    assert not TwilioWebhookVerifier(TOKEN).verify(url, params, signature)
    assert not RequestValidator(TOKEN).validate(url, params, signature)


def test_the_wrong_token_fails() -> None:
    signature = sign("another-token", URL, PARAMS)

    assert not TwilioWebhookVerifier(TOKEN).verify(URL, PARAMS, signature)
    assert not RequestValidator(TOKEN).validate(URL, PARAMS, signature)


@pytest.mark.parametrize(
    ("signed_url", "requested_url"),
    [
        ("https://mycompany.com/cb?x=1", "https://mycompany.com:443/cb?x=1"),
        ("https://mycompany.com:443/cb?x=1", "https://mycompany.com/cb?x=1"),
        ("http://mycompany.com/cb", "http://mycompany.com:80/cb"),
    ],
)
def test_a_default_port_added_or_dropped_by_a_proxy_is_tolerated_like_twilio_does(
    signed_url: str, requested_url: str
) -> None:
    signature = sign(TOKEN, signed_url, PARAMS)

    assert TwilioWebhookVerifier(TOKEN).verify(requested_url, PARAMS, signature)
    assert RequestValidator(TOKEN).validate(requested_url, PARAMS, signature)


def test_garbage_signatures_are_refused() -> None:
    verifier = TwilioWebhookVerifier(TOKEN)

    assert not verifier.verify(URL, PARAMS, "")
    assert not verifier.verify(URL, PARAMS, "not base64 at all ✓")
