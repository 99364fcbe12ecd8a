"""/v1/opt-outs/{channel}: the tenant's per-channel opt-out lists (SMS, email), beside the
do-not-call lists (/v1/dnc), which every channel obeys as well."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StringConstraints

from dialer.api.auth import Operator, RuntimeDep, Viewer
from dialer.api.common import Cursor, Limit, cursor_value, next_cursor
from dialer.api.models import NO_CONTROL, Text, _In
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.domain.channels import Channel
from dialer.ports.message_store import OptOut
from dialer.services import opt_outs

router = APIRouter(prefix="/v1/opt-outs", tags=["opt-outs"], responses=PROBLEM_RESPONSES)

ChannelName = Annotated[
    Literal["sms", "email"], Path(description="sms (numbers) or email (addresses)")
]
Address = Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=NO_CONTROL)]
OPERATOR_REASON = "listed by an operator"


class OptOutsIn(_In):
    addresses: list[Address] = Field(
        min_length=1,
        max_length=1000,
        description="Numbers (sms; normalised to E.164 as contacts are) or email addresses",
    )


class OptOutsAddIn(OptOutsIn):
    reason: Text | None = None


class OptOutEntry(BaseModel):
    id: int
    address: str
    reason: str | None = Field(description="A STOP reply, an unsubscribe link, an operator's")
    created_at: datetime

    @classmethod
    def of(cls, entry: OptOut) -> OptOutEntry:
        return cls(
            id=entry.id, address=entry.address, reason=entry.reason, created_at=entry.created_at
        )


class OptOutPage(BaseModel):
    items: list[OptOutEntry]
    next_cursor: str | None


class OptOutsAdded(BaseModel):
    added: int
    already_opted_out: int


class OptOutsRemoved(BaseModel):
    removed: int
    not_opted_out: int


def _rows(body: OptOutsIn) -> list[tuple[str, str]]:
    return [(f"addresses[{i}]", address) for i, address in enumerate(body.addresses)]


@router.get("/{channel}", response_model=OptOutPage)
async def list_opt_outs(
    caller: Viewer,
    runtime: RuntimeDep,
    channel: ChannelName,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> OptOutPage:
    """The tenant's opt-outs of the channel, in the order they were made."""
    entries = await opt_outs.page(
        runtime.store, caller.tenant, Channel(channel), cursor_value(cursor) or 0, limit
    )
    return OptOutPage(
        items=[OptOutEntry.of(entry) for entry in entries],
        next_cursor=next_cursor([entry.id for entry in entries], limit),
    )


@router.post("/{channel}", response_model=OptOutsAdded)
async def add_opt_outs(
    caller: Operator, runtime: RuntimeDep, channel: ChannelName, body: OptOutsAddIn
) -> OptOutsAdded:
    """Opt addresses out of the channel (all or nothing: one bad address refuses the batch).
    Messages not sent yet are skipped when their turn comes."""
    now = runtime.services.clock.now()
    reason = body.reason or OPERATOR_REASON
    added, already = await opt_outs.add(
        runtime.store, caller.tenant, Channel(channel), _rows(body), reason, now
    )
    return OptOutsAdded(added=added, already_opted_out=already)


@router.delete("/{channel}", response_model=OptOutsRemoved)
async def remove_opt_outs(
    caller: Operator, runtime: RuntimeDep, channel: ChannelName, body: OptOutsIn
) -> OptOutsRemoved:
    """Opt addresses back in (all or nothing); the do-not-call lists still apply."""
    removed, missing = await opt_outs.remove(
        runtime.store, caller.tenant, Channel(channel), _rows(body)
    )
    return OptOutsRemoved(removed=removed, not_opted_out=missing)
