"""The telephony provider's adapters and its guard (breaker and pacing), from settings."""

from __future__ import annotations

import ssl

from dialer.adapters.guard.memory import LocalGuardState
from dialer.adapters.guard.redis import RedisGuardState
from dialer.adapters.messaging.smtp import SmtpSender
from dialer.adapters.messaging.twilio_sms import TwilioSms
from dialer.adapters.telephony.inbound import RequestVerifier
from dialer.adapters.telephony.plivo import PlivoTelephony
from dialer.adapters.telephony.plivo_signature import PlivoWebhookVerifier
from dialer.adapters.telephony.telnyx import TelnyxTelephony
from dialer.adapters.telephony.telnyx_signature import TelnyxWebhookVerifier
from dialer.adapters.telephony.twilio import TwilioTelephony
from dialer.adapters.telephony.twilio_signature import TwilioWebhookVerifier
from dialer.domain.aimd import AimdPolicy
from dialer.domain.breaker import BreakerPolicy
from dialer.errors import InvalidInput, Problem
from dialer.ports import (
    Clock,
    GuardBackend,
    Telephony,
    WebhookVerifier,
)
from dialer.services.provider_guard import ProviderGuard
from dialer.settings import Settings


def twilio_credentials(settings: Settings) -> tuple[str, str]:
    problems = []
    if not settings.twilio_account_sid:
        problems.append(Problem("TWILIO_ACCOUNT_SID", "required for DIALER_PROVIDER=twilio"))
    if settings.twilio_auth_token is None or not settings.twilio_auth_token.get_secret_value():
        problems.append(Problem("TWILIO_AUTH_TOKEN", "required for DIALER_PROVIDER=twilio"))
    if problems:
        raise InvalidInput(problems)
    sid, token = settings.twilio_account_sid or "", settings.twilio_auth_token
    return sid, token.get_secret_value() if token else ""


def build_telephony(settings: Settings) -> tuple[Telephony, WebhookVerifier | RequestVerifier]:
    """The adapter and webhook verifier of DIALER_PROVIDER (twilio, plivo or telnyx)."""
    if settings.provider != "twilio":  # Plivo or Telnyx
        return build_other_provider(settings)
    sid, token = twilio_credentials(settings)
    telephony = TwilioTelephony(
        settings.twilio_api_base,
        sid,
        token,
        timeout=settings.provider_timeout_seconds,
        max_connections=settings.max_in_flight_requests,
        ringing_callbacks=settings.callback_events == "all",
    )
    return telephony, TwilioWebhookVerifier(token)


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value or "")


def _require(settings: Settings, names: dict[str, object]) -> None:
    missing = [
        Problem(variable, f"required for DIALER_PROVIDER={settings.provider}")
        for variable, value in names.items()
        if not _secret(value)
    ]
    if missing:
        raise InvalidInput(missing)


def build_other_provider(settings: Settings) -> tuple[Telephony, RequestVerifier]:
    """The Plivo or Telnyx adapter and its webhook verifier."""
    timeout, connections = settings.provider_timeout_seconds, settings.max_in_flight_requests
    if settings.provider == "plivo":
        _require(
            settings,
            {
                "PLIVO_AUTH_ID": settings.plivo_auth_id,
                "PLIVO_AUTH_TOKEN": settings.plivo_auth_token,
            },
        )
        token = _secret(settings.plivo_auth_token)
        plivo = PlivoTelephony(
            settings.plivo_api_base,
            settings.plivo_auth_id or "",
            token,
            timeout=timeout,
            max_connections=connections,
            ringing_callbacks=settings.callback_events == "all",
        )
        return plivo, PlivoWebhookVerifier(token)
    _require(
        settings,
        {
            "TELNYX_API_KEY": settings.telnyx_api_key,
            "TELNYX_PUBLIC_KEY": settings.telnyx_public_key,
            "TELNYX_CONNECTION_ID": settings.telnyx_connection_id,
        },
    )
    verifier = TelnyxWebhookVerifier(settings.telnyx_public_key or "")  # checks the key first
    telnyx = TelnyxTelephony(
        settings.telnyx_api_base,
        _secret(settings.telnyx_api_key),
        settings.telnyx_connection_id or "",
        timeout=timeout,
        max_connections=connections,
    )
    return telnyx, verifier


def provider_account(settings: Settings) -> str:
    """The account the breaker and pacing belong to, as ``provider:account``."""
    accounts = {
        "twilio": settings.twilio_account_sid,
        "plivo": settings.plivo_auth_id,
        "telnyx": settings.telnyx_connection_id,
    }
    return f"{settings.provider}:{accounts[settings.provider] or '-'}"


def build_guard(settings: Settings, clock: Clock) -> ProviderGuard:
    """The provider's guard: its state shared through Redis when DIALER_REDIS_URL is set (one
    breaker and one paced rate for every process), else in this process."""
    breaker = BreakerPolicy(
        failure_ratio=settings.breaker_failure_ratio,
        window_seconds=settings.breaker_window_seconds,
        min_calls=settings.breaker_min_calls,
        open_seconds=settings.breaker_open_seconds,
        probes=settings.breaker_probes,
    )
    pacing = AimdPolicy(
        ceiling=settings.provider_max_cps,
        floor=settings.provider_min_cps,
        step=settings.provider_cps_step,
    )
    account = provider_account(settings)
    state: GuardBackend = LocalGuardState(clock, breaker, pacing)
    if settings.redis_url:
        state = RedisGuardState.from_url(
            settings.redis_url,
            account,
            LocalGuardState(clock, breaker, pacing),
            namespace=settings.redis_namespace,
            breaker=breaker,
            pacing=pacing,
        )
    return ProviderGuard(account, state, clock)


def build_sms(settings: Settings) -> TwilioSms | None:
    """SMS through the Twilio-compatible Messages API, with the Twilio credentials; None when
    there are none (SMS steps then fail, each saying why)."""
    token = _secret(settings.twilio_auth_token)
    if not settings.twilio_account_sid or not token:
        return None
    return TwilioSms(
        settings.twilio_api_base,
        settings.twilio_account_sid,
        token,
        timeout=settings.provider_timeout_seconds,
        max_connections=settings.max_in_flight_requests,
    )


def build_email(settings: Settings) -> SmtpSender | None:
    """Email through DIALER_SMTP_URL; None when it is not set."""
    url = _secret(settings.smtp_url)
    if not url:
        return None
    tls = (
        ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else None
    )
    return SmtpSender.from_url(url, pool_size=settings.smtp_pool_size, tls_context=tls)
