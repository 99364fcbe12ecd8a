"""/v1/campaigns: create, list, read, update (optimistic concurrency), start / pause /
resume / cancel, progress."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dialer.api.auth import Operator, RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, IdempotencyKey, Limit, cursor_value, next_cursor, write
from dialer.api.models import (
    CampaignOut,
    CampaignPage,
    ChannelProgressOut,
    ProgressOut,
    Usage,
    WaitingOut,
)
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.campaign_document import settings_from_mapping
from dialer.domain.model import Campaign
from dialer.domain.statuses import LeadStatus
from dialer.errors import InvalidInput, Problem
from dialer.ports import UnitOfWork
from dialer.services import owned_campaigns
from dialer.services.progress import campaign_progress
from dialer.services.waiting import Waiting

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=PROBLEM_RESPONSES)

CampaignDocument = Annotated[
    dict[str, Any],
    Body(
        description="The campaign document: the same keys as the campaign YAML file "
        "(name, caller_id, max_concurrency, rate, window, retry, priority, ...)",
        examples=[{"name": "spring-reminders", "caller_id": "+14155550100", "max_concurrency": 5}],
    ),
]
OPEN_LEADS = (LeadStatus.PENDING, LeadStatus.WAITING_RETRY, LeadStatus.DIALING)


def _etag(campaign: Campaign) -> dict[str, str]:
    return {"ETag": f'"{campaign.version}"'}


def _answer(campaign: Campaign, status: int = 200) -> JSONResponse:
    payload = CampaignOut.of(campaign).model_dump(mode="json")
    return JSONResponse(payload, status, headers=_etag(campaign))


@router.post("", status_code=201, response_model=CampaignOut)
async def create_campaign(
    caller: Operator,
    runtime: RuntimeDep,
    request: Request,
    document: CampaignDocument,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a campaign (DRAFT). Every mistake is reported with the key it concerns."""
    settings = settings_from_mapping(document)

    async def work(uow: UnitOfWork) -> tuple[int, CampaignOut, dict[str, str]]:
        campaign = await owned_campaigns.create(uow, runtime.services, caller.tenant_id, settings)
        headers = {"Location": f"/v1/campaigns/{campaign.id}", **_etag(campaign)}
        return 201, CampaignOut.of(campaign), headers

    return await write(runtime, caller, request, idempotency_key, work)


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    caller: Viewer, runtime: RuntimeDep, cursor: Cursor = None, limit: Limit = 100
) -> CampaignPage:
    """The tenant's campaigns, oldest first."""
    found = await owned_campaigns.page(
        runtime.services, caller.tenant_id, cursor_value(cursor) or 0, limit
    )
    return CampaignPage(
        items=[CampaignOut.of(c) for c in found],
        next_cursor=next_cursor([c.id for c in found], limit),
    )


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(caller: Viewer, runtime: RuntimeDep, campaign_id: Id) -> JSONResponse:
    """One campaign; its ETag is its version, for If-Match on updates."""
    return _answer(await owned_campaigns.get(runtime.services, caller.tenant_id, campaign_id))


def _version(if_match: str | None) -> int:
    if if_match is None:
        raise HTTPException(428, "send If-Match with the campaign's ETag (its version)")
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(Problem("If-Match", f'expected an ETag like "3", got {if_match!r}'))
    return int(text)


@router.put("/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    caller: Operator,
    runtime: RuntimeDep,
    campaign_id: Id,
    document: CampaignDocument,
    if_match: Annotated[
        str | None,
        Header(max_length=64, description="The ETag the change is based on; stale: 409"),
    ] = None,
) -> JSONResponse:
    """Replace a campaign's settings. A change based on an old version answers 409."""
    version = _version(if_match)
    settings = settings_from_mapping(document)
    campaign = await owned_campaigns.update_settings(
        runtime.services, caller.tenant_id, campaign_id, version, settings
    )
    return _answer(campaign)


def _action_route(action: str, summary: str) -> None:
    async def endpoint(caller: Operator, runtime: RuntimeDep, campaign_id: Id) -> JSONResponse:
        campaign = await owned_campaigns.act(
            runtime.services, caller.tenant_id, campaign_id, action
        )
        return _answer(campaign)

    router.add_api_route(
        f"/{{campaign_id}}/{action}",
        endpoint,
        methods=["POST"],
        response_model=CampaignOut,
        summary=summary,
        description="An atomic transition; an illegal one answers 409 naming the current state.",
        name=f"{action}_campaign",
    )


for _action, _summary in (
    ("start", "Start a draft campaign"),
    ("pause", "Pause a running campaign"),
    ("resume", "Resume a paused campaign"),
    ("cancel", "Cancel a campaign; its waiting leads are cancelled"),
):
    _action_route(_action, _summary)


@router.get("/{campaign_id}/progress", response_model=ProgressOut)
async def get_progress(caller: Viewer, runtime: RuntimeDep, campaign_id: Id) -> JSONResponse:
    """Leads by state, live calls against the caps, the start rate, an ETA, and for a
    campaign with SMS or email steps its messages per channel (`channels`)."""
    services = runtime.services
    await owned_campaigns.get(services, caller.tenant_id, campaign_id)
    now = services.clock.now()
    progress = await campaign_progress(services.store, campaign_id, now, services.limits)
    usage = await services.admission.usage()
    remaining = sum(progress.leads.get(s, 0) for s in OPEN_LEADS)
    rate = progress.calls_per_second
    eta = math.ceil(remaining / rate) if rate > 0 else (0.0 if remaining == 0 else None)
    out = ProgressOut(
        campaign_id=progress.campaign_id,
        name=progress.name,
        status=progress.status,
        leads={s.value: n for s, n in progress.leads.items()},
        attempts={s.value: n for s, n in progress.attempts.items()},
        total_leads=progress.total_leads,
        finished_leads=progress.finished_leads,
        remaining_leads=remaining,
        live_calls=Usage(live=progress.live_calls, cap=progress.cap),
        tenant_live_calls=usage.by_tenant.get(caller.tenant_id, 0),
        global_live_calls=Usage(live=usage.global_active, cap=services.limits.global_max),
        calls_per_second=rate,
        eta_seconds=eta,
        waiting=[_waiting_out(wait, now) for wait in progress.waiting],
        channels={c.value: ChannelProgressOut.of(f) for c, f in progress.channels.items()},
    )
    # `channels` only for a campaign with message steps: the others' progress is unchanged.
    exclude = None if progress.channels else {"channels"}
    return JSONResponse(out.model_dump(mode="json", by_alias=True, exclude=exclude))


def _waiting_out(wait: Waiting, now: datetime) -> WaitingOut:
    return WaitingOut(
        reason=wait.reason.value,
        leads=wait.leads,
        until=wait.until,
        zone=wait.zone,
        message=wait.message(now),
    )
