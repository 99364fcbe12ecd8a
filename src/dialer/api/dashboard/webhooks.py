"""The dashboard's webhooks page: the tenant's event webhook endpoints, their state (enabled,
failures in a row, breaker) and latest delivery attempts.

Any signed-in key reads it; an admin key adds an endpoint, disables or enables one, rotates
its secret and sends a test event, through CSRF'd forms and the same service functions (so the
same URL rules) as the REST API. A new secret is shown on the page that answers the form, once:
it is never kept in the session's notices."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dialer.api.dashboard.sessions import Notice
from dialer.api.dashboard.web import (
    PREFIX,
    PostedForm,
    SignedIn,
    Visitor,
    check_form,
    dashboard_of,
    notify,
    redirect,
    render,
    signed_in,
)
from dialer.domain.webhooks import EVENT_TYPES
from dialer.errors import Conflict, InvalidInput, NotFound
from dialer.services import webhook_endpoints as endpoints
from dialer.services.access import KeyScope
from dialer.services.webhook_endpoints import EndpointChange

router = APIRouter(prefix=PREFIX, include_in_schema=False)

ATTEMPTS_SHOWN = 10
ACTIONS = ("disable", "enable", "test", "rotate")


async def _render(
    request: Request,
    visitor: Visitor,
    status: int = 200,
    error: str = "",
    secret: tuple[int, str] | None = None,
) -> Response:
    services = dashboard_of(request).runtime.services
    tenant_id = visitor.principal.tenant_id
    found = await endpoints.list_endpoints(services, tenant_id)
    attempts = {
        e.id: await endpoints.latest_attempts(services, tenant_id, e.id, ATTEMPTS_SHOWN)
        for e in found
    }
    return await render(
        request,
        "webhooks.html",
        visitor,
        status,
        endpoints=found,
        attempts=attempts,
        event_types=EVENT_TYPES,
        can_change=visitor.principal.scope.includes(KeyScope.ADMIN),
        error=error,
        secret=secret,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    return await _render(request, await signed_in(request))


def _change(form: FormData) -> EndpointChange:
    url = form.get("url")
    description = form.get("description")
    return EndpointChange(
        url.strip() if isinstance(url, str) else "",
        [e for e in form.getlist("events") if isinstance(e, str)],
        description.strip() if isinstance(description, str) else "",
    )


@router.post("/webhooks")
async def add_endpoint(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Add an endpoint; the page that answers shows its secret, once."""
    check_form(request, visitor, form, needs=KeyScope.ADMIN)
    runtime = dashboard_of(request).runtime
    try:
        endpoint, secret = await endpoints.add_endpoint(
            runtime.services, visitor.principal.tenant_id, _change(form), runtime.webhook_rules
        )
    except InvalidInput as exc:
        return await _render(request, visitor, 422, str(exc))
    return await _render(request, visitor, secret=(endpoint.id, secret))


@router.post("/webhooks/{endpoint_id:int}/{action}")
async def endpoint_action(
    request: Request, visitor: SignedIn, form: PostedForm, endpoint_id: int, action: str
) -> Response:
    check_form(request, visitor, form, needs=KeyScope.ADMIN)
    if action not in ACTIONS:
        return await _render(request, visitor, 404, f"no such action: {action}")
    services = dashboard_of(request).runtime.services
    tenant_id = visitor.principal.tenant_id
    try:
        if action == "rotate":
            _, secret = await endpoints.rotate_secret(
                services, tenant_id, endpoint_id, timedelta(hours=24)
            )
            return await _render(request, visitor, secret=(endpoint_id, secret))
        if action == "test":
            await endpoints.send_test(services, tenant_id, endpoint_id)
        else:
            change = EndpointChange(enabled=action == "enable")
            rules = dashboard_of(request).runtime.webhook_rules
            await endpoints.update_endpoint(services, tenant_id, endpoint_id, change, rules)
    except (NotFound, Conflict) as exc:
        return await _render(request, visitor, 404 if isinstance(exc, NotFound) else 409, str(exc))
    done = {"test": "a test event is queued", "disable": "disabled", "enable": "enabled"}
    await notify(request, visitor, Notice("ok", f"Endpoint {endpoint_id}: {done[action]}."))
    return redirect(f"{PREFIX}/webhooks")
