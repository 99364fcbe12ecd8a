"""/v1/dlq: the tenant's dead letters (jobs that failed after their retries): list, replay,
discard. What a replay does is described in dialer.services.dlq."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dialer.api.auth import Operator, RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, Limit, cursor_value, next_cursor
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.ports import DeadLetter
from dialer.services import dlq

router = APIRouter(prefix="/v1/dlq", tags=["dead letters"], responses=PROBLEM_RESPONSES)


class DeadLetterOut(BaseModel):
    id: int
    kind: str
    cause: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    replayed_at: datetime | None
    discarded_at: datetime | None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(
            id=letter.id,
            kind=letter.kind,
            cause=letter.cause,
            payload=letter.payload,
            attempts=letter.attempts,
            created_at=letter.created_at,
            replayed_at=letter.replayed_at,
            discarded_at=letter.discarded_at,
        )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


@router.get("", response_model=DeadLetterPage)
async def list_dead_letters(
    caller: Viewer,
    runtime: RuntimeDep,
    include_closed: Annotated[bool, Query(description="Also replayed and discarded")] = False,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> DeadLetterPage:
    """The tenant's dead letters, oldest first."""
    letters = await dlq.list_dead_letters(
        runtime.store,
        caller.tenant_id,
        after_id=cursor_value(cursor) or 0,
        limit=limit,
        include_closed=include_closed,
    )
    return DeadLetterPage(
        items=[DeadLetterOut.of(letter) for letter in letters],
        next_cursor=next_cursor([letter.id for letter in letters], limit),
    )


@router.post("/{letter_id}/replay", response_model=DeadLetterOut)
async def replay_dead_letter(caller: Operator, runtime: RuntimeDep, letter_id: Id) -> DeadLetterOut:
    """Finish what the letter's job could not; 409 when it is closed already."""
    return DeadLetterOut.of(await dlq.replay(runtime.services, letter_id, caller.tenant_id))


@router.post("/{letter_id}/discard", response_model=DeadLetterOut)
async def discard_dead_letter(
    caller: Operator, runtime: RuntimeDep, letter_id: Id
) -> DeadLetterOut:
    """Close the letter without doing anything; 409 when it is closed already."""
    return DeadLetterOut.of(await dlq.discard(runtime.store, letter_id, caller.tenant_id))
