"""``dialer webhook-endpoints``: a tenant's receivers of event webhooks, as the API manages
them (docs/integrations.md): add, list, change, disable, enable, rotate the secret, send a
test event, and the delivery attempts made to one. The tenant is --tenant (default
DIALER_TENANT)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from dialer.adapters.clock import WallClock
from dialer.bootstrap import open_store
from dialer.bootstrap.webhooks import url_rules
from dialer.cli.common import run_command
from dialer.ports.webhook_store import DeliveryAttempt, Endpoint
from dialer.services import webhook_endpoints as endpoints
from dialer.services.webhook_endpoints import EndpointChange, StoreDeps
from dialer.settings import load_settings

T = TypeVar("T")
console = Console()
app = typer.Typer(help="A tenant's webhook endpoints (event webhooks).", no_args_is_help=True)

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="The tenant's name (default: DIALER_TENANT).")
]
EndpointId = Annotated[int, typer.Argument(help="The endpoint's id.", min=1)]
EventsOption = Annotated[
    list[str] | None,
    typer.Option("--event", "-e", help="An event type to subscribe to (repeat for more)."),
]


def _run(tenant: str | None, action: Callable[[StoreDeps, int], Awaitable[T]]) -> T:
    """Run ``action`` on the store, for the tenant's id."""

    async def go() -> T:
        settings = load_settings()
        async with open_store(settings) as store:
            async with store.unit() as uow:
                tenant_id = await uow.tenants.id_for(tenant or settings.tenant)
                await uow.commit()
            return await action(StoreDeps(store, WallClock()), tenant_id)

    return run_command(go())


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint as the API shows it: never its secrets."""
    when = endpoint.previous_until
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failures": endpoint.failures,
        "paused_until": endpoint.paused_until.isoformat() if endpoint.paused_until else None,
        "previous_secret_until": when.isoformat() if when else None,
    }


def _show(endpoint: Endpoint, secret: str | None = None) -> None:
    shown = endpoint_json(endpoint)
    if secret is not None:
        shown["secret"] = secret
    console.print_json(json.dumps(shown))
    if secret is not None:
        console.print("Keep the secret now: it is not shown again.")


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="https://... where events are POSTed.")],
    events: EventsOption = None,
    description: Annotated[str, typer.Option(help="What it is, for people.")] = "",
    tenant: TenantOption = None,
) -> None:
    """Add an endpoint; its signing secret is printed this once."""
    change = EndpointChange(url, events or [], description)
    rules = url_rules(load_settings())
    endpoint, secret = _run(tenant, lambda d, t: endpoints.add_endpoint(d, t, change, rules))
    _show(endpoint, secret)


@app.command("list")
def list_(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The tenant's endpoints."""
    found = _run(tenant, endpoints.list_endpoints)
    if as_json:
        console.print_json(json.dumps([endpoint_json(e) for e in found]))
        return
    table = Table(title="Webhook endpoints")
    for column in ("id", "url", "events", "enabled", "failures", "description"):
        table.add_column(column, overflow="fold")  # a URL is read whole, not cut short
    for e in found:
        state = "yes" if e.enabled else f"no ({e.disabled_reason})"
        events = ", ".join(e.events)
        table.add_row(str(e.id), e.url, events, state, str(e.failures), e.description)
    console.print(table)


@app.command("update")
def update(
    endpoint_id: EndpointId,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    events: EventsOption = None,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    tenant: TenantOption = None,
) -> None:
    """Change an endpoint's URL, event types or description."""
    change = EndpointChange(url, events or None, description)
    rules = url_rules(load_settings())
    changed = _run(tenant, lambda d, t: endpoints.update_endpoint(d, t, endpoint_id, change, rules))
    _show(changed)


@app.command("disable")
def disable(endpoint_id: EndpointId, tenant: TenantOption = None) -> None:
    """Stop deliveries to the endpoint; its pending ones wait."""
    _show(_run(tenant, lambda d, t: endpoints.disable_endpoint(d, t, endpoint_id)))


@app.command("enable")
def enable(endpoint_id: EndpointId, tenant: TenantOption = None) -> None:
    """Deliver to the endpoint again (its breaker closed)."""
    change = EndpointChange(enabled=True)
    rules = url_rules(load_settings())
    _show(_run(tenant, lambda d, t: endpoints.update_endpoint(d, t, endpoint_id, change, rules)))


@app.command("rotate")
def rotate(
    endpoint_id: EndpointId,
    overlap_hours: Annotated[
        float, typer.Option(min=0, max=168, help="How long the old secret signs too.")
    ] = 24,
    tenant: TenantOption = None,
) -> None:
    """A new signing secret, printed this once; the old one signs too during the overlap."""
    overlap = timedelta(hours=overlap_hours)
    endpoint, secret = _run(
        tenant, lambda d, t: endpoints.rotate_secret(d, t, endpoint_id, overlap)
    )
    _show(endpoint, secret)


@app.command("test")
def send_test(endpoint_id: EndpointId, tenant: TenantOption = None) -> None:
    """Queue a webhook.test event to the endpoint (see `attempts` for how it went)."""
    _run(tenant, lambda d, t: endpoints.send_test(d, t, endpoint_id))
    console.print(f"A test event is queued for endpoint {endpoint_id}.")


@app.command("attempts")
def attempts(
    endpoint_id: EndpointId,
    after: Annotated[int, typer.Option(min=0, help="Attempts after this id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    tenant: TenantOption = None,
) -> None:
    """Delivery attempts to the endpoint: status code, latency, error."""
    found: list[DeliveryAttempt] = _run(
        tenant, lambda d, t: endpoints.list_attempts(d, t, endpoint_id, after, limit)
    )
    table = Table(title=f"Delivery attempts to endpoint {endpoint_id}")
    for column in ("id", "at (UTC)", "event", "type", "status", "ms", "error"):
        table.add_column(column)
    for a in found:
        table.add_row(
            str(a.id),
            f"{a.at:%Y-%m-%d %H:%M:%S}",
            f"evt_{a.event_id}",
            a.type,
            str(a.status_code or "-"),
            f"{a.latency_ms:.0f}",
            a.error or "",
        )
    console.print(table)
