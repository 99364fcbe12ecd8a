"""/v1/calls: calls outside campaigns (queued at once, paced by the dispatcher), the call log,
and /v1/leads/{id}: one lead with its attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from dialer.api.auth import Operator, RuntimeDep, Viewer
from dialer.api.common import (
    Cursor,
    Id,
    IdempotencyKey,
    Instant,
    Limit,
    QueryId,
    cursor_value,
    next_cursor,
    query_phone,
    write,
)
from dialer.api.models import (
    AttemptOut,
    BulkAccepted,
    BulkCallsIn,
    CallAccepted,
    CallIn,
    CallPage,
    IndexedCall,
    LeadOut,
    Number,
    Refusal,
)
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.bootstrap import Runtime
from dialer.domain.statuses import AttemptStatus
from dialer.errors import InvalidInput
from dialer.ports import AttemptQuery, UnitOfWork
from dialer.services import adhoc_calls, call_log
from dialer.services.access import Principal
from dialer.services.adhoc_calls import BacklogCounts, CallOrder, QueuedCall, QueueLimits

router = APIRouter(tags=["calls"], responses=PROBLEM_RESPONSES)

ACCEPTED_DOC = (
    "Answers 202 at once: the call waits in the tenant's API queue and is dialled under every "
    "cap, inside the contact-local calling window (`window`; default every day 08:00-21:00): "
    "`not_before` says when it opens. 422 when the window never opens for the contact. 429 "
    "with Retry-After when the tenant's queue is past DIALER_API_MAX_PENDING_CALLS."
)


def _order(call: CallIn) -> CallOrder:
    return CallOrder(
        to=call.to,
        caller_id=call.from_,
        answer_url=call.answer_url,
        name=call.name,
        timezone=call.timezone,
        attributes=dict(call.attributes),
        window=call.window.window() if call.window is not None else None,
    )


def _limits(request: Request, runtime: Runtime) -> QueueLimits:
    settings = runtime.settings
    backlog: BacklogCounts = request.app.state.backlog
    return QueueLimits(settings.api_max_pending_calls, settings.campaign_max_concurrency, backlog)


def _accepted(q: QueuedCall) -> CallAccepted:
    return CallAccepted(
        id=q.lead.id,
        campaign_id=q.campaign_id,
        to=q.lead.phone,
        status=q.lead.status,
        queued=q.queued,
        not_before=q.not_before,
    )


async def _queue(
    runtime: Runtime,
    caller: Principal,
    request: Request,
    key: str | None,
    orders: list[CallOrder],
    single: bool,
) -> JSONResponse:
    async def work(uow: UnitOfWork) -> tuple[int, CallAccepted | BulkAccepted, dict[str, str]]:
        result = await adhoc_calls.queue_calls(
            uow,
            runtime.services,
            caller.tenant_id,
            orders,
            _limits(request, runtime),
            prefix="" if single else "calls",
        )
        if single:
            if result.refused:
                raise InvalidInput(result.refused[0].problem)
            call = result.queued[0]
            return 202, _accepted(call), {"Location": f"/v1/leads/{call.lead.id}"}
        bulk = BulkAccepted(
            accepted=[
                IndexedCall(index=q.index, **_accepted(q).model_dump()) for q in result.queued
            ],
            refused=[
                Refusal(index=r.index, location=r.problem.location, message=r.problem.message)
                for r in result.refused
            ],
        )
        return 202, bulk, {}

    return await write(runtime, caller, request, key, work)


@router.post("/v1/calls", status_code=202, response_model=CallAccepted, description=ACCEPTED_DOC)
async def place_call(
    caller: Operator,
    runtime: RuntimeDep,
    request: Request,
    call: CallIn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Place one call outside any campaign."""
    return await _queue(runtime, caller, request, idempotency_key, [_order(call)], single=True)


@router.post(
    "/v1/calls/bulk", status_code=202, response_model=BulkAccepted, description=ACCEPTED_DOC
)
async def place_calls(
    caller: Operator,
    runtime: RuntimeDep,
    request: Request,
    calls: BulkCallsIn,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Place up to 1,000 calls; each is accepted or refused (with its index and reason)."""
    orders = [_order(call) for call in calls.calls]
    return await _queue(runtime, caller, request, idempotency_key, orders, single=False)


@router.get("/v1/calls", response_model=CallPage)
async def call_log_page(
    caller: Viewer,
    runtime: RuntimeDep,
    campaign_id: QueryId | None = None,
    status: Annotated[list[AttemptStatus] | None, Query(description="Any of these")] = None,
    number: Annotated[Number | None, Query(description="The number called")] = None,
    since: Annotated[Instant | None, Query(description="Started at or after")] = None,
    until: Annotated[Instant | None, Query(description="Started before")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> CallPage:
    """The call log (every attempt), newest first."""
    query = AttemptQuery(
        tenant_id=caller.tenant_id,
        limit=limit,
        before_id=cursor_value(cursor),
        campaign_id=campaign_id,
        statuses=tuple(status or ()),
        phone=query_phone(number),
        since=since,
        until=until,
    )
    found = await call_log.page(runtime.store, query)
    charges = await call_log.charges(runtime.store, found)
    return CallPage(
        items=[AttemptOut.of(a, charges.get(a.id)) for a in found],
        next_cursor=next_cursor([a.id for a in found], limit),
    )


@router.get("/v1/calls/{call_id}", response_model=AttemptOut)
async def get_call(caller: Viewer, runtime: RuntimeDep, call_id: Id) -> AttemptOut:
    """One call attempt."""
    found = await call_log.attempt(runtime.store, caller.tenant_id, call_id)
    charges = await call_log.charges(runtime.store, [found])
    return AttemptOut.of(found, charges.get(found.id))


@router.get("/v1/leads/{lead_id}", response_model=LeadOut)
async def get_lead(caller: Viewer, runtime: RuntimeDep, lead_id: Id) -> LeadOut:
    """One lead (a contact in a campaign, or a call placed by the API) and its attempts."""
    record = await call_log.lead(runtime.store, caller.tenant_id, lead_id)
    return LeadOut.of(record.lead, record.attempts)
