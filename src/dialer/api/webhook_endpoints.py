"""/v1/webhook-endpoints: the tenant's receivers of event webhooks (docs/integrations.md):
add (the secret is in that one answer), list, read, change, disable, rotate the secret, send
a test event, and the delivery attempts made to one. Another tenant's endpoint is a 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dialer.api.auth import Admin, RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, Limit, cursor_value, next_cursor
from dialer.api.models import _In
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.ports.webhook_store import DeliveryAttempt, Endpoint
from dialer.services import webhook_endpoints as endpoints
from dialer.services.webhook_endpoints import EndpointChange

router = APIRouter(
    prefix="/v1/webhook-endpoints", tags=["webhook endpoints"], responses=PROBLEM_RESPONSES
)

EventTypes = Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=20)]
Description = Annotated[str, Field(max_length=500)]


class EndpointIn(_In):
    url: Annotated[str, Field(max_length=2000)]
    events: EventTypes
    description: Description = ""


class EndpointPatch(_In):
    url: Annotated[str | None, Field(max_length=2000)] = None
    events: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failures: int = Field(description="Failed deliveries in a row")
    paused_until: datetime | None = Field(description="Set while its circuit breaker is open")
    previous_secret_until: datetime | None = Field(
        description="After a rotation, the old secret signs too until then"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=endpoint.events,
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failures=endpoint.failures,
            paused_until=endpoint.paused_until,
            previous_secret_until=endpoint.previous_until,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="whsec_...: shown in this answer only")


class AttemptOut(BaseModel):
    id: int
    event_id: str
    type: str
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls(
            id=attempt.id,
            event_id=f"evt_{attempt.event_id}",
            type=attempt.type,
            at=attempt.at,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            error=attempt.error,
        )


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


def _with_secret(endpoint: Endpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**EndpointOut.of(endpoint).model_dump(), secret=secret)


@router.post("", status_code=201, response_model=EndpointWithSecret)
async def create_endpoint(
    caller: Admin, runtime: RuntimeDep, body: EndpointIn
) -> EndpointWithSecret:
    """A new endpoint, subscribed to ``events``; the answer holds its signing secret, once."""
    change = EndpointChange(body.url, body.events, body.description)
    endpoint, secret = await endpoints.add_endpoint(
        runtime.services, caller.tenant_id, change, runtime.webhook_rules
    )
    return _with_secret(endpoint, secret)


@router.get("", response_model=list[EndpointOut])
async def list_endpoints(caller: Viewer, runtime: RuntimeDep) -> list[EndpointOut]:
    """The tenant's endpoints (never their secrets)."""
    found = await endpoints.list_endpoints(runtime.services, caller.tenant_id)
    return [EndpointOut.of(e) for e in found]


@router.get("/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(caller: Viewer, runtime: RuntimeDep, endpoint_id: Id) -> EndpointOut:
    found = await endpoints.get_endpoint(runtime.services, caller.tenant_id, endpoint_id)
    return EndpointOut.of(found)


@router.patch("/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    caller: Admin, runtime: RuntimeDep, endpoint_id: Id, body: EndpointPatch
) -> EndpointOut:
    """Change the URL, the event types, the description; ``enabled: true`` enables it again
    (its breaker closed)."""
    change = EndpointChange(body.url, body.events, body.description, body.enabled)
    changed = await endpoints.update_endpoint(
        runtime.services, caller.tenant_id, endpoint_id, change, runtime.webhook_rules
    )
    return EndpointOut.of(changed)


@router.post("/{endpoint_id}/disable", response_model=EndpointOut)
async def disable_endpoint(caller: Admin, runtime: RuntimeDep, endpoint_id: Id) -> EndpointOut:
    """No more deliveries until enabled again; its pending deliveries wait."""
    changed = await endpoints.disable_endpoint(runtime.services, caller.tenant_id, endpoint_id)
    return EndpointOut.of(changed)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(
    caller: Admin,
    runtime: RuntimeDep,
    endpoint_id: Id,
    overlap_hours: Annotated[
        float, Query(ge=0, le=168, description="How long the old secret signs too")
    ] = 24,
) -> EndpointWithSecret:
    """A new secret, in this answer only; both sign deliveries during the overlap."""
    endpoint, secret = await endpoints.rotate_secret(
        runtime.services, caller.tenant_id, endpoint_id, timedelta(hours=overlap_hours)
    )
    return _with_secret(endpoint, secret)


@router.post("/{endpoint_id}/test", status_code=202)
async def send_test(caller: Admin, runtime: RuntimeDep, endpoint_id: Id) -> dict[str, str]:
    """Queue a ``webhook.test`` event to this endpoint; its attempts show how it went."""
    await endpoints.send_test(runtime.services, caller.tenant_id, endpoint_id)
    return {"status": "queued"}


@router.get("/{endpoint_id}/attempts", response_model=AttemptPage)
async def list_attempts(
    caller: Viewer, runtime: RuntimeDep, endpoint_id: Id, cursor: Cursor = None, limit: Limit = 100
) -> AttemptPage:
    """Delivery attempts to the endpoint, oldest first: status code, latency, error."""
    found = await endpoints.list_attempts(
        runtime.services, caller.tenant_id, endpoint_id, cursor_value(cursor) or 0, limit
    )
    return AttemptPage(
        items=[AttemptOut.of(a) for a in found],
        next_cursor=next_cursor([a.id for a in found], limit),
    )
