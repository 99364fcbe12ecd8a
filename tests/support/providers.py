"""The simulator in each provider's dialect, with the matching adapter, webhook verifier and
engine settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.adapters.telephony.plivo import PlivoTelephony
from dialer.adapters.telephony.plivo_signature import PlivoWebhookVerifier
from dialer.adapters.telephony.telnyx import TelnyxTelephony
from dialer.adapters.telephony.telnyx_signature import (
    TelnyxWebhookVerifier,
    key_from_secret,
    public_key_text,
)
from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier
from dialer.ports import Telephony
from dialer.simulator.config import SimulatorConfig
from tests.support.engine import EngineFactory
from tests.support.simulation import fast_simulator

TOKEN = "provider-test-token"
ACCOUNTS = {
    "twilio": "AC" + "ef" * 16,
    "plivo": "MAZDQ1ZDCYNDRIYTYXNZ",
    "telnyx": "1494404757140276705",  # the Call Control connection id
}
DIALECTS = tuple(ACCOUNTS)
# ``async with provider_engine(dialect, sim=..., **settings) as e:`` (the providers' fixture)
ProviderEngine = EngineFactory


def dialect_config(dialect: str, **changes: Any) -> SimulatorConfig:
    return fast_simulator(
        **{
            "auth_token": TOKEN,
            "cps": 1000.0,
            "seed": 5,
            "dialect": dialect,
            "account_sid": ACCOUNTS[dialect],
            **changes,
        }
    )


def telnyx_public_key(token: str = TOKEN) -> str:
    return public_key_text(key_from_secret(token))


def telephony_for(dialect: str, url: str, token: str = TOKEN, **options: Any) -> Telephony:
    account = ACCOUNTS[dialect]
    if dialect == "plivo":
        return PlivoTelephony(url, account, token, **options)
    if dialect == "telnyx":
        return TelnyxTelephony(url, token, account, **options)
    return TwilioTelephony(url, account, token, **options)


def verifier_for(dialect: str, token: str = TOKEN) -> RequestVerifier:
    if dialect == "plivo":
        return PlivoWebhookVerifier(token)
    if dialect == "telnyx":
        return TelnyxWebhookVerifier(telnyx_public_key(token))
    return TwilioWebhookVerifier(token)


def provider_settings(dialect: str) -> Callable[[str], dict[str, Any]]:
    """The engine's settings for ``dialect``'s provider at the simulator's URL."""
    account = ACCOUNTS[dialect]

    def at(sim_url: str) -> dict[str, Any]:
        if dialect == "plivo":
            return {
                "provider": "plivo",
                "plivo_api_base": sim_url,
                "plivo_auth_id": account,
                "plivo_auth_token": TOKEN,
            }
        if dialect == "telnyx":
            return {
                "provider": "telnyx",
                "telnyx_api_base": sim_url,
                "telnyx_api_key": TOKEN,
                "telnyx_public_key": telnyx_public_key(),
                "telnyx_connection_id": account,
            }
        return {
            "twilio_api_base": sim_url,
            "twilio_account_sid": account,
            "twilio_auth_token": TOKEN,
        }

    return at
