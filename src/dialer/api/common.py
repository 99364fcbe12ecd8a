"""What the REST routers share: path and query parameter types, cursors, idempotent writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel

from dialer.api.models import MAX_ID
from dialer.bootstrap import Runtime
from dialer.domain.phone import InvalidNumber, normalize
from dialer.errors import InvalidInput, Problem
from dialer.ports import UnitOfWork
from dialer.services import idempotency
from dialer.services.access import Principal

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
Cursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,16}$", description="`next_cursor` of the previous page"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Repeat the request with the same key to get the first answer back",
    ),
]


def _in_utc(moment: datetime) -> datetime:
    # The store keeps UTC: an instant whose UTC form is outside datetime's range (year 1 at
    # +14:00, year 9999 at -14:00) is refused here rather than overflowing there.
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the instant in UTC falls outside years 1 to 9999") from exc


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]

Work = Callable[[UnitOfWork], Awaitable[tuple[int, BaseModel, dict[str, str]]]]
REPLAYED = "Idempotent-Replayed"


def query_phone(number: str | None) -> str | None:
    """A ``number`` query parameter in E.164, or 422 naming it."""
    if number is None:
        return None
    try:
        return normalize(number)
    except InvalidNumber as exc:
        raise InvalidInput(Problem("query.number", str(exc))) from exc


def cursor_value(cursor: str | None) -> int | None:
    return int(cursor) if cursor is not None else None


def next_cursor(ids: list[int], limit: int) -> str | None:
    """A page as long as the limit may have a successor: its last id is the cursor."""
    return str(ids[-1]) if ids and len(ids) == limit else None


async def write(
    runtime: Runtime, caller: Principal, request: Request, key: str | None, work: Work
) -> JSONResponse:
    """Run ``work`` in one transaction; with an Idempotency-Key, the key is reserved and the
    answer stored in that same transaction, and a repeat gets the stored answer back."""
    async with runtime.store.unit() as uow:
        if key is not None:
            fingerprint = idempotency.fingerprint(
                request.method, request.url.path, await request.body()
            )
            now = runtime.services.clock.now()
            stored = await idempotency.claim(uow, caller.tenant_id, key, fingerprint, now)
            if stored is not None:
                return JSONResponse(stored.body, stored.status_code, headers={REPLAYED: "true"})
        status, model, headers = await work(uow)
        payload = model.model_dump(mode="json", by_alias=True)
        if key is not None:
            await uow.access.save_idempotent_response(caller.tenant_id, key, status, payload)
        await uow.commit()
    return JSONResponse(payload, status, headers=headers)
