"""Contacts: import into a campaign (CSV streamed, or JSON), do-not-call lists, history (calls
and messages)."""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from starlette.exceptions import HTTPException

from dialer.api.auth import Operator, RuntimeDep, Viewer
from dialer.api.common import Cursor, Id, Limit, cursor_value, next_cursor
from dialer.api.limits import PayloadTooLarge
from dialer.api.models import NO_CONTROL, AttemptOut, MessageOut, Number, Text, _In
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.bootstrap import Runtime
from dialer.domain.phone import normalize
from dialer.errors import InvalidInput, Problem
from dialer.ports import DoNotCallEntry
from dialer.services import channel_views, contact_records, owned_campaigns, safety
from dialer.services.access import KeyScope, Principal
from dialer.services.channel_views import MessageEntry
from dialer.services.contact_records import ContactRecord
from dialer.services.contacts import ImportReport, file_lines, import_contacts, skip_listed

router = APIRouter(tags=["contacts"], responses=PROBLEM_RESPONSES)

CSV_TYPES = {"text/csv", "application/csv", "text/plain"}
SPOOL_IN_MEMORY = 8 << 20  # larger uploads spill to a temporary file

Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f;]*$")
]


class ContactIn(_In):
    phone: Number
    name: Text | None = None
    timezone: Annotated[str, StringConstraints(max_length=64, pattern=NO_CONTROL)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    quiet_hours: Text | None = None
    attributes: dict[Text, Text] = Field(default_factory=dict, max_length=50)


class ContactsIn(_In):
    contacts: list[ContactIn] = Field(min_length=1, max_length=10000)


class Rejected(BaseModel):
    location: str = Field(description="`line N` of the CSV, or `contacts[i]` of the JSON")
    reason: str


class ImportOut(BaseModel):
    rows: int
    accepted: int
    added: int = Field(description="New leads in the campaign")
    outside_segment: int
    skipped_do_not_call: int = Field(description="Added leads marked SKIPPED: listed numbers")
    rejected_count: int
    rejected: list[Rejected] = Field(description="The first 1,000 rejected rows")


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with its local ``$defs`` references written out (these models do not
    recurse), so it stands on its own inside the OpenAPI document."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    return schema


_CONTACTS_SCHEMA = ContactsIn.model_json_schema()
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": _inlined(_CONTACTS_SCHEMA, _CONTACTS_SCHEMA.get("$defs", {}))
            },
        },
    }
}


class _Spool:
    """The uploaded CSV, written as it arrives: checked as UTF-8 and against the size cap on
    the way, then read back as lines (twice in strict mode). Memory stays bounded whatever
    the size: past SPOOL_IN_MEMORY it lives in a temporary file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.size = 0

    async def fill(self, request: Request, limit: int) -> None:
        async for chunk in request.stream():
            self.size += len(chunk)
            if self.size > limit:
                raise PayloadTooLarge(limit)
            self._check(chunk, final=False)
            self.file.write(chunk)
        self._check(b"", final=True)

    def _check(self, chunk: bytes, final: bool) -> None:
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            at = self.size - len(chunk) + exc.start
            raise InvalidInput(Problem("body", f"not UTF-8 text (byte {at})")) from exc

    def lines(self) -> Iterator[str]:
        """The lines as written (line ends kept, as the csv module wants them), each read
        with a bound; the text was checked as UTF-8 on the way in."""
        return file_lines(self.file)


async def _json_contacts(request: Request, limit: int) -> list[ContactRecord]:
    data = bytearray()  # grown in place: each chunk is not a copy of all before it
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(limit)
    try:
        parsed = ContactsIn.model_validate_json(data)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()
        ]
        raise InvalidInput(problems) from exc
    return [
        ContactRecord(c.phone, c.name, c.timezone, c.tags, c.quiet_hours, c.attributes)
        for c in parsed.contacts
    ]


def _report(report: ImportReport, locate: Callable[[int], str], skipped: int) -> ImportOut:
    return ImportOut(
        rows=report.rows,
        accepted=report.accepted,
        added=report.added,
        outside_segment=report.outside_segment,
        skipped_do_not_call=skipped,
        rejected_count=report.rejected_count,
        rejected=[Rejected(location=locate(r.line), reason=r.reason) for r in report.rejected],
    )


def _line(line: int) -> str:
    return f"line {line}"


async def _run_import(
    runtime: Runtime,
    campaign_id: int,
    source: Callable[[], Iterator[str]],
    strict: bool,
    locate: Callable[[int], str],
) -> ImportReport:
    try:
        return await import_contacts(runtime.services, campaign_id, source, strict=strict)
    except InvalidInput as exc:
        problems = []
        for p in exc.problems:
            number = p.location.removeprefix("line ")
            where = locate(int(number)) if number.isdigit() and number != "1" else p.location
            problems.append(Problem(where, p.message))
        raise InvalidInput(problems) from exc


@router.post(
    "/v1/campaigns/{campaign_id}/contacts",
    response_model=ImportOut,
    openapi_extra=IMPORT_BODY,
)
async def import_campaign_contacts(
    caller: Operator,
    runtime: RuntimeDep,
    request: Request,
    campaign_id: Id,
    mode: Annotated[
        Literal["lenient", "strict"],
        Query(description="strict: any bad row refuses the whole import; lenient: keep the good"),
    ] = "lenient",
) -> ImportOut:
    """Import contacts as a CSV body (``text/csv``, streamed; the README's columns) or JSON.

    Numbers are normalised to E.164 and de-duplicated; each rejected row is reported with its
    line (CSV) or index (JSON) and reason. Numbers on a do-not-call list are imported and
    their leads marked SKIPPED at once."""
    campaign = await owned_campaigns.get(runtime.services, caller.tenant_id, campaign_id)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    settings = runtime.settings
    if media in CSV_TYPES:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as file:
            spool = _Spool(file)
            await spool.fill(request, settings.api_max_upload_bytes)
            report = await _run_import(runtime, campaign.id, spool.lines, mode == "strict", _line)
        locate = _line
    elif media == "application/json":
        records = await _json_contacts(request, settings.api_max_json_bytes)
        lines = contact_records.csv_lines(records)
        locate = contact_records.record_location
        report = await _run_import(
            runtime, campaign.id, lambda: iter(lines), mode == "strict", locate
        )
    else:
        raise HTTPException(415, "send text/csv or application/json")
    skipped = await skip_listed(runtime.services, campaign)
    return _report(report, locate, skipped)


# ---------------------------------------------------------------- do-not-call lists

ListName = Annotated[
    Literal["tenant", "global"],
    Query(alias="list", description="The tenant's list, or the global one (admin keys)"),
]


class DncEntryIn(_In):
    number: Number
    reason: Text | None = None


class DncAddIn(_In):
    numbers: list[DncEntryIn] = Field(min_length=1, max_length=1000)
    list_: Literal["tenant", "global"] = Field(default="tenant", alias="list")


class DncAdded(BaseModel):
    added: int
    already_listed: int


class DncEntry(BaseModel):
    id: int
    number: str
    reason: str | None = Field(
        description="On the global list, null unless this tenant listed it (platform keys "
        "read every reason)"
    )
    created_at: datetime
    added_by: str | None = Field(
        description="Platform keys only: the tenant that listed the number, null when the "
        "platform did (a platform key, the command line)"
    )

    @classmethod
    def of(cls, entry: DoNotCallEntry) -> DncEntry:
        return cls(
            id=entry.id,
            number=entry.phone,
            reason=entry.reason,
            created_at=entry.created_at,
            added_by=entry.added_by,
        )


class DncPage(BaseModel):
    items: list[DncEntry]
    next_cursor: str | None


class DncCheck(BaseModel):
    number: str
    listed: bool = Field(description="On the tenant's list or the global list")


class DncRemoved(BaseModel):
    removed: bool


def _list_scope(caller: Principal, name: str, needed: KeyScope = KeyScope.ADMIN) -> bool:
    """True for the global list: tenant admin keys may read and add to it (reasons and
    authors are shown as safety.as_seen_by allows); removing takes a platform key."""
    if name == "global":
        caller.require(needed)
    return name == "global"


@router.get("/v1/dnc", response_model=DncPage)
async def list_dnc(
    caller: Viewer,
    runtime: RuntimeDep,
    list_name: ListName = "tenant",
    cursor: Cursor = None,
    limit: Limit = 100,
) -> DncPage:
    """A do-not-call list, in the order numbers were added."""
    is_global = _list_scope(caller, list_name)
    entries = await safety.do_not_call_page(
        runtime.store, caller, is_global, cursor_value(cursor) or 0, limit
    )
    return DncPage(
        items=[DncEntry.of(entry) for entry in entries],
        next_cursor=next_cursor([entry.id for entry in entries], limit),
    )


@router.post("/v1/dnc", response_model=DncAdded)
async def add_dnc(caller: Operator, runtime: RuntimeDep, body: DncAddIn) -> DncAdded:
    """List numbers (all or nothing: one bad number refuses the batch). Running campaigns
    stop dialling them at once."""
    is_global = _list_scope(caller, body.list_)
    rows = [(f"numbers[{i}].number", e.number, e.reason) for i, e in enumerate(body.numbers)]
    added = await safety.add_to_do_not_call(
        runtime.store,
        caller.tenant,
        rows,
        is_global=is_global,
        listed_by=safety.author_of_additions(caller),
    )
    return DncAdded(added=added, already_listed=len(rows) - added)


@router.get("/v1/dnc/{number}", response_model=DncCheck)
async def check_dnc(caller: Viewer, runtime: RuntimeDep, number: Number) -> DncCheck:
    """Whether a number may not be called (the tenant's list or the global one)."""
    listed = await safety.is_listed(runtime.store, caller.tenant, number)
    return DncCheck(number=_normalised(number), listed=listed)


@router.delete("/v1/dnc/{number}", response_model=DncRemoved)
async def remove_dnc(
    caller: Operator, runtime: RuntimeDep, number: Number, list_name: ListName = "tenant"
) -> DncRemoved:
    """Take a number off the tenant's list, or off the global list with a platform key: a
    tenant may not lift a block another tenant or the platform placed."""
    is_global = _list_scope(caller, list_name, needed=KeyScope.PLATFORM)
    removed = await safety.remove_from_do_not_call(
        runtime.store, caller.tenant, [number], is_global=is_global
    )
    return DncRemoved(removed=removed > 0)


def _normalised(number: str) -> str:
    return normalize(number)


# ---------------------------------------------------------------- history


class HistoryItem(BaseModel):
    campaign: str
    kind: Literal["call", "message"]
    at: datetime | None = Field(description="When the call started or the message was made")
    call: AttemptOut | None = Field(description="The call (kind call), else null")
    message: MessageOut | None = Field(description="The SMS or email (kind message), else null")


def _history_item(entry: channel_views.Entry) -> HistoryItem:
    if isinstance(entry, MessageEntry):
        message = MessageOut.of(entry.message)
        return HistoryItem(
            campaign=entry.campaign, kind="message", at=entry.started_at, call=None, message=message
        )
    call = AttemptOut.of(entry.attempt)
    return HistoryItem(
        campaign=entry.campaign, kind="call", at=entry.started_at, call=call, message=None
    )


@router.get("/v1/contacts/{number}/history", response_model=list[HistoryItem])
async def contact_history(
    caller: Viewer, runtime: RuntimeDep, number: Number, limit: Limit = 100
) -> list[HistoryItem]:
    """Every call and message to this contact across the tenant's campaigns, newest first:
    calls and SMS to the number, email to the contact's email address."""
    entries = await channel_views.contact_timeline(runtime.store, caller.tenant, number, limit)
    return [_history_item(entry) for entry in entries]
