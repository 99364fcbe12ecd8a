"""/v1/campaigns/{id}/messages: the SMS and email messages of a campaign's steps, a page at
a time, oldest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dialer.api.auth import RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, Limit, cursor_value, next_cursor
from dialer.api.models import MessageOut
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.domain.channels import Channel
from dialer.domain.statuses import MessageStatus
from dialer.ports.message_store import MessageQuery
from dialer.services import channel_views

router = APIRouter(tags=["messages"], responses=PROBLEM_RESPONSES)

MessageChannel = Literal["sms", "email"]
ChannelFilter = Annotated[
    list[MessageChannel] | None, Query(description="sms or email, any of these")
]
StatusFilter = Annotated[
    list[MessageStatus] | None, Query(description="The message's status, any of these")
]


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


@router.get("/v1/campaigns/{campaign_id}/messages", response_model=MessagePage)
async def list_messages(
    caller: Viewer,
    runtime: RuntimeDep,
    campaign_id: Id,
    channel: ChannelFilter = None,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> MessagePage:
    """The campaign's messages, oldest first; the filters combine with AND, a repeated one
    is any of its values. Another tenant's campaign is 404."""
    query = MessageQuery(
        campaign_id=campaign_id,
        after_id=cursor_value(cursor) or 0,
        limit=limit,
        channels=tuple(Channel(c) for c in channel or ()),
        statuses=tuple(status or ()),
    )
    found = await channel_views.campaign_messages(runtime.store, caller.tenant_id, query)
    return MessagePage(
        items=[MessageOut.of(m) for m in found],
        next_cursor=next_cursor([m.id for m in found], limit),
    )
