"""/v1/campaigns/{id}/leads: a campaign's leads and their results, a page at a time, and the
same as a CSV file streamed page by page (a large campaign is never held in memory)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from dialer.api.auth import RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, Limit, cursor_value, next_cursor, query_phone
from dialer.api.models import Number
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.domain.stages import Stage, lead_stage
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports import LeadQuery, LeadResult
from dialer.services import lead_results

router = APIRouter(tags=["leads"], responses=PROBLEM_RESPONSES)

StatusFilter = Annotated[list[LeadStatus] | None, Query(description="Lead status, any of these")]
OutcomeFilter = Annotated[
    list[AttemptStatus] | None,
    Query(description="The last call's status, any of these (a lead never called has none)"),
]
StageFilter = Annotated[
    list[Stage] | None, Query(description="The older dialers' stage, any of these")
]
NumberFilter = Annotated[Number | None, Query(description="The lead's number")]


class LeadResultOut(BaseModel):
    id: int
    campaign_id: int
    to: str
    name: str | None
    status: LeadStatus
    stage: Stage | None = Field(
        description="The older dialers' word for where the lead stands; null before its first "
        "call (see docs/api.md, Stages)"
    )
    attempt_count: int
    next_attempt_at: datetime | None
    last_outcome: AttemptStatus | None = Field(description="The last call's status")
    skip_reason: str | None = Field(description="Why a SKIPPED lead was never dialled")
    last_call_id: int | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration: int | None = Field(description="The last call's length in seconds")
    hangup_cause: str | None

    @classmethod
    def of(cls, found: LeadResult) -> LeadResultOut:
        lead, last = found.lead, found.last_attempt
        return cls(
            id=lead.id,
            campaign_id=lead.campaign_id,
            to=lead.phone,
            name=found.name,
            status=lead.status,
            stage=lead_stage(lead.status, last.status if last else None),
            attempt_count=lead.attempts,
            next_attempt_at=lead.next_attempt_at,
            last_outcome=last.status if last else None,
            skip_reason=found.skip_reason,
            last_call_id=last.id if last else None,
            answered_at=last.answered_at if last else None,
            ended_at=last.ended_at if last else None,
            duration=last.duration if last else None,
            hangup_cause=last.hangup_cause if last else None,
        )


class LeadResultPage(BaseModel):
    items: list[LeadResultOut]
    next_cursor: str | None


@dataclass(frozen=True)
class LeadFilters:
    statuses: tuple[LeadStatus, ...]
    last_outcomes: tuple[AttemptStatus, ...]
    stages: tuple[Stage, ...]
    phone: str | None

    def query(self, campaign_id: int, limit: int, after_id: int = 0) -> LeadQuery:
        return LeadQuery(
            campaign_id=campaign_id,
            limit=limit,
            after_id=after_id,
            statuses=self.statuses,
            last_outcomes=self.last_outcomes,
            stages=self.stages,
            phone=self.phone,
        )


def lead_filters(
    status: StatusFilter = None,
    last_outcome: OutcomeFilter = None,
    stage: StageFilter = None,
    number: NumberFilter = None,
) -> LeadFilters:
    """The list's and the export's filters; they combine with AND, a repeated one is OR."""
    return LeadFilters(
        tuple(status or ()), tuple(last_outcome or ()), tuple(stage or ()), query_phone(number)
    )


Filters = Annotated[LeadFilters, Depends(lead_filters)]


@router.get("/v1/campaigns/{campaign_id}/leads", response_model=LeadResultPage)
async def campaign_leads(
    caller: Viewer,
    runtime: RuntimeDep,
    campaign_id: Id,
    filters: Filters,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> LeadResultPage:
    """A campaign's leads and their results, oldest first."""
    query = filters.query(campaign_id, limit, cursor_value(cursor) or 0)
    found = await lead_results.page(runtime.store, caller.tenant_id, query)
    return LeadResultPage(
        items=[LeadResultOut.of(item) for item in found],
        next_cursor=next_cursor([item.lead.id for item in found], limit),
    )


# ------------------------------------------------------------------ CSV export

CSV_COLUMNS = (
    "id",
    "phone",
    "name",
    "status",
    "stage",
    "attempts",
    "last_outcome",
    "next_attempt_at",
    "skip_reason",
    "last_call_id",
    "answered_at",
    "ended_at",
    "duration",
    "hangup_cause",
)
# A spreadsheet runs a cell that starts with one of these as a formula: free text from
# contacts or providers (a name, a hangup cause) is quoted with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _csv_row(item: LeadResultOut) -> list[str]:
    values: dict[str, object] = {
        **item.model_dump(),
        "phone": item.to,
        "attempts": item.attempt_count,
        "name": _text(item.name),
        "skip_reason": _text(item.skip_reason),
        "hangup_cause": _text(item.hangup_cause),
    }
    return [_cell(values[column]) for column in CSV_COLUMNS]


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def _csv_chunks(pages: AsyncIterator[list[LeadResult]]) -> AsyncIterator[str]:
    yield _csv_text([CSV_COLUMNS])
    async for found in pages:
        yield _csv_text([_csv_row(LeadResultOut.of(item)) for item in found])


@router.get(
    "/v1/campaigns/{campaign_id}/leads.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every matching lead"}},
)
async def campaign_leads_csv(
    caller: Viewer,
    runtime: RuntimeDep,
    campaign_id: Id,
    filters: Filters,
) -> StreamingResponse:
    """Every matching lead and its results as CSV, oldest first, streamed."""
    query = filters.query(campaign_id, lead_results.EXPORT_PAGE)
    await lead_results.check_owned(runtime.store, caller.tenant_id, campaign_id)
    pages = lead_results.every_lead(runtime.store, query)
    filename = f"campaign-{campaign_id}-leads.csv"
    return StreamingResponse(
        _csv_chunks(pages),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
