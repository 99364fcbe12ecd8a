"""The dashboard's costs page: what the tenant spent over the last 30 UTC days, per campaign
and per day (per currency), and its budget over all its campaigns against its spend. Any
signed-in key of the tenant reads it; nothing on it changes anything."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dialer.api.dashboard.live import MAX_LISTED
from dialer.api.dashboard.spending import DAYS_SHOWN, tenant_costs
from dialer.api.dashboard.web import PREFIX, dashboard_of, render, signed_in

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/costs")
async def costs_page(request: Request) -> Response:
    visitor = await signed_in(request)
    services = dashboard_of(request).runtime.services
    tenant_id, now = visitor.principal.tenant_id, services.clock.now()
    async with services.store.unit() as uow:
        campaigns = await uow.campaigns.of_tenant(tenant_id, 0, MAX_LISTED)
    found = await tenant_costs(services, tenant_id, campaigns, now)
    return await render(
        request,
        "costs.html",
        visitor,
        costs=found,
        days=DAYS_SHOWN,
        at=f"{now.astimezone(UTC):%Y-%m-%d %H:%M}",
    )
