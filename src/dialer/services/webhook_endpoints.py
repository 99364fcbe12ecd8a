"""A tenant's webhook endpoints: add (the secret shown once), list, change, disable, rotate
the secret, send a test event, and the delivery attempts made to one.

Every function takes the caller's tenant: another tenant's endpoint is NotFound, as if it
did not exist. The URL is judged as it is given (https unless http is allowed; no loopback,
private, link-local or metadata host unless private addresses are allowed) and again, after
resolution, at every delivery (``adapters.webhooks.http``)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from dialer.domain import webhooks
from dialer.domain.urls import check_http_url, internal_host_reason
from dialer.errors import Conflict, InvalidInput, NotFound, Problem
from dialer.ports import Clock, Store
from dialer.ports.webhook_store import DeliveryAttempt, Endpoint, NewEvent
from dialer.services.webhook_events import Outbox

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 500
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
MAX_PAGE = 1000


class EndpointDeps(Protocol):
    """What managing endpoints needs: ``Services`` has it, and so does a command that opens
    only the store (``StoreDeps``)."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...


@dataclass(frozen=True)
class StoreDeps:
    store: Store
    clock: Clock
    outbox: Outbox = field(default_factory=Outbox)


@dataclass(frozen=True)
class UrlRules:
    """What an endpoint's URL may be: settings for development and tests loosen them."""

    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class EndpointChange:
    """Fields to change; None leaves a field as it is."""

    url: str | None = None
    events: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def url_problem(url: str, rules: UrlRules) -> str | None:
    """Why the URL cannot be an endpoint, or None."""
    try:
        check_http_url(url)
    except ValueError as exc:
        return str(exc)
    if urlsplit(url).scheme.lower() != "https" and not rules.allow_http:
        return "must be an https URL (DIALER_WEBHOOK_ALLOW_HTTP allows http, for development)"
    if not rules.allow_private:
        reason = internal_host_reason(url)
        if reason is not None:
            return f"refused: {reason} (DIALER_WEBHOOK_ALLOW_PRIVATE allows it, for development)"
    return None


def _checked(change: EndpointChange, rules: UrlRules) -> None:
    problems = []
    if change.url is not None and (reason := url_problem(change.url, rules)) is not None:
        problems.append(Problem("url", reason))
    if change.events is not None:
        unknown = sorted(set(change.events) - set(webhooks.EVENT_TYPES))
        if unknown or not change.events:
            known = ", ".join(webhooks.EVENT_TYPES)
            what = f"unknown event types {unknown}" if unknown else "at least one event type"
            problems.append(Problem("events", f"{what}; expected some of {known}"))
    if change.description is not None and len(change.description) > MAX_DESCRIPTION:
        problems.append(Problem("description", f"at most {MAX_DESCRIPTION} characters"))
    if problems:
        raise InvalidInput(problems)


def _new_secret() -> str:
    return webhooks.secret_from(secrets.token_bytes(webhooks.SECRET_BYTES))


async def add_endpoint(
    services: EndpointDeps, tenant_id: int, change: EndpointChange, rules: UrlRules
) -> tuple[Endpoint, str]:
    """The new endpoint and its secret (not shown again)."""
    if change.url is None or change.events is None:
        raise InvalidInput(Problem("url" if change.url is None else "events", "required"))
    _checked(change, rules)
    secret = _new_secret()
    async with services.store.unit() as uow:
        endpoint = await uow.webhooks.add_endpoint(
            tenant_id,
            change.url,
            list(dict.fromkeys(change.events)),
            change.description or "",
            secret,
            services.clock.now(),
        )
        await uow.commit()
    services.outbox.forget()
    log.info("webhook endpoint %s added for tenant %s", endpoint.id, tenant_id)
    return endpoint, secret


async def list_endpoints(services: EndpointDeps, tenant_id: int) -> list[Endpoint]:
    async with services.store.unit() as uow:
        return await uow.webhooks.endpoints(tenant_id)


async def get_endpoint(services: EndpointDeps, tenant_id: int, endpoint_id: int) -> Endpoint:
    async with services.store.unit() as uow:
        endpoint = await uow.webhooks.endpoint(endpoint_id)
    return _owned(endpoint, tenant_id, endpoint_id)


def _owned(endpoint: Endpoint | None, tenant_id: int, endpoint_id: int) -> Endpoint:
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


async def update_endpoint(
    services: EndpointDeps,
    tenant_id: int,
    endpoint_id: int,
    change: EndpointChange,
    rules: UrlRules,
) -> Endpoint:
    _checked(change, rules)
    async with services.store.unit() as uow:
        endpoint = _owned(
            await uow.webhooks.endpoint(endpoint_id, lock=True), tenant_id, endpoint_id
        )
        _apply(endpoint, change)
        await uow.webhooks.save_endpoint(endpoint, services.clock.now())
        await uow.commit()
    services.outbox.forget()
    return endpoint


def _apply(endpoint: Endpoint, change: EndpointChange) -> None:
    if change.url is not None:
        endpoint.url = change.url
    if change.events is not None:
        endpoint.events = list(dict.fromkeys(change.events))
    if change.description is not None:
        endpoint.description = change.description
    if change.enabled is True:  # enabled again: a fresh start for its breaker
        endpoint.enabled, endpoint.disabled_reason = True, None
        endpoint.failures, endpoint.paused_until = 0, None
    elif change.enabled is False:
        endpoint.enabled, endpoint.disabled_reason = False, "disabled by the tenant"


async def disable_endpoint(services: EndpointDeps, tenant_id: int, endpoint_id: int) -> Endpoint:
    change = EndpointChange(enabled=False)
    return await update_endpoint(services, tenant_id, endpoint_id, change, UrlRules())


async def rotate_secret(
    services: EndpointDeps, tenant_id: int, endpoint_id: int, overlap: timedelta = DEFAULT_OVERLAP
) -> tuple[Endpoint, str]:
    """A new secret; the current one keeps signing too (both signatures are sent) for
    ``overlap``, while receivers move to the new one."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInput(Problem("overlap_hours", f"between 0 and {MAX_OVERLAP.days * 24}"))
    secret = _new_secret()
    now = services.clock.now()
    async with services.store.unit() as uow:
        endpoint = _owned(
            await uow.webhooks.endpoint(endpoint_id, lock=True), tenant_id, endpoint_id
        )
        endpoint.previous_secret, endpoint.previous_until = endpoint.secret, now + overlap
        endpoint.secret = secret
        await uow.webhooks.save_endpoint(endpoint, now)
        await uow.commit()
    log.info("webhook endpoint %s: secret rotated", endpoint_id)
    return endpoint, secret


async def send_test(services: EndpointDeps, tenant_id: int, endpoint_id: int) -> None:
    """A ``webhook.test`` event to this endpoint alone, delivered like any other."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        endpoint = _owned(await uow.webhooks.endpoint(endpoint_id), tenant_id, endpoint_id)
        if not endpoint.enabled:
            raise Conflict(f"webhook endpoint {endpoint_id} is disabled; enable it first")
        data = {"endpoint_id": endpoint_id, "message": "a test event, sent on request"}
        event = NewEvent(tenant_id, webhooks.TEST_EVENT, data, endpoint_id=endpoint_id)
        await uow.webhooks.record([event], now)
        await uow.commit()


async def latest_attempts(
    services: EndpointDeps, tenant_id: int, endpoint_id: int, limit: int = 10
) -> list[DeliveryAttempt]:
    """The endpoint's latest delivery attempts, newest first."""
    async with services.store.unit() as uow:
        _owned(await uow.webhooks.endpoint(endpoint_id), tenant_id, endpoint_id)
        return await uow.webhooks.latest_attempts(endpoint_id, limit)


async def list_attempts(
    services: EndpointDeps, tenant_id: int, endpoint_id: int, after_id: int = 0, limit: int = 100
) -> list[DeliveryAttempt]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(Problem("limit", f"must be between 1 and {MAX_PAGE}, not {limit}"))
    async with services.store.unit() as uow:
        _owned(await uow.webhooks.endpoint(endpoint_id), tenant_id, endpoint_id)
        return await uow.webhooks.attempts(endpoint_id, after_id, limit)
