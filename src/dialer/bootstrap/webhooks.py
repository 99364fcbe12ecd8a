"""Outbound event webhooks, built from settings: the URL rules and the delivery loop."""

from __future__ import annotations

from dialer.adapters.webhooks.http import HttpWebhookSender
from dialer.domain.pre_dial import MAX_TIMEOUT
from dialer.domain.webhooks import BreakerPolicy, RetryPolicy
from dialer.services.context import Services
from dialer.services.webhook_delivery import DeliveryPolicy, WebhookDeliverer
from dialer.services.webhook_endpoints import UrlRules
from dialer.settings import Settings


def url_rules(settings: Settings) -> UrlRules:
    return UrlRules(settings.webhook_allow_http, settings.webhook_allow_private)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        retry=RetryPolicy(horizon=settings.webhook_retry_hours * 3600),
        breaker=BreakerPolicy(settings.webhook_breaker_failures, settings.webhook_breaker_seconds),
        lease=max(10.0, settings.webhook_timeout_seconds * 3),
        batch=settings.webhook_batch_size,
        per_endpoint=settings.webhook_concurrency,
        idle=settings.webhook_tick_seconds,
    )


def build_deliverer(settings: Settings, services: Services) -> WebhookDeliverer:
    sender = HttpWebhookSender(
        settings.webhook_timeout_seconds,
        allow_http=settings.webhook_allow_http,
        allow_private=settings.webhook_allow_private,
    )
    return WebhookDeliverer(
        services.store, sender, services.clock, delivery_policy(settings), services.rng
    )


def build_hook_sender(settings: Settings) -> HttpWebhookSender:
    """What asks campaigns' pre-dial hooks: the same URL rules as the event webhooks; each
    hook's own timeout (at most MAX_TIMEOUT) bounds its request."""
    return HttpWebhookSender(
        MAX_TIMEOUT,
        allow_http=settings.webhook_allow_http,
        allow_private=settings.webhook_allow_private,
    )
