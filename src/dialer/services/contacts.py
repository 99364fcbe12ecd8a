"""Contact import: every CSV row checked, rejected rows reported by line number.

Strict mode refuses the whole import when any row is bad (nothing is stored); lenient mode
keeps the good rows. The file is read as a stream and stored in chunks, so a file of millions
of rows needs memory only for the numbers already seen (to catch duplicates).

A record is one line: a quote left open rejects its own line and never swallows the rows
after it, so no contact is lost in another's field or made up from a piece of one. The
header's width and each field's length are bounded, and the parsing gives the event loop a
turn every few milliseconds, so a hostile file costs time in proportion to its size and
never stalls the server."""

from __future__ import annotations

import asyncio
import csv
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from dialer.domain.model import Campaign
from dialer.domain.phone import InvalidNumber, normalize, zone_key, zones_for
from dialer.domain.window import parse_ranges
from dialer.errors import InvalidInput, Problem
from dialer.ports import ContactDraft
from dialer.services.context import Services
from dialer.services.dispatch import DO_NOT_CALL
from dialer.services.message_steps import template_names

KNOWN_COLUMNS = frozenset({"phone", "name", "timezone", "tags", "quiet_hours"})
EMAIL_COLUMN = "email"  # the contact's address for email steps; kept among its attributes
CHUNK_ROWS = 1000
# A chunk also ends at this many values (a contact counts one per attribute, plus one), so
# storing a chunk of wide rows is as short a step for the server's loop as one of narrow rows.
CHUNK_VALUES = 50_000
MAX_REPORTED = 1000  # rejected rows listed in a report; the count is always exact
MAX_COLUMNS = 1000
MAX_FIELD_CHARS = 4096
# Above the widest line the bounds allow in practice, and below nothing: a longer line is
# refused before the csv module reads it. (The csv module's own limit, 128 KiB per field, is
# also reported as an over-long field.)
MAX_LINE_CHARS = 1 << 20
# The most bytes read for one line: enough for MAX_LINE_CHARS characters of any width, so
# that a line cut here is certainly over the bound (and rejected as such).
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS + 8
SKIP_BYTES = 1 << 16  # the rest of an over-long line is skipped this many bytes at a time
SLICE_SECONDS = 0.005  # parsing between two turns of the event loop
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

T = TypeVar("T")


def file_lines(file: IO[bytes]) -> Iterator[str]:
    """A contacts file's lines as the parser reads them (line ends kept, no byte-order mark),
    each read with a bound: a line longer than the parser accepts (a 512 MiB upload without a
    line break, say) is handed on cut short — the parser rejects it as too long — and the
    rest of it is skipped without ever being held in memory. Text that is not UTF-8 is
    refused, naming the line."""
    file.seek(0)
    number = 0
    while raw := file.readline(MAX_LINE_BYTES):
        number += 1
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest_of_line(file)
            yield raw.decode("utf-8", errors="ignore")  # rejected as over-long: cut anywhere
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(Problem(f"line {number}", "not UTF-8 text")) from exc
        yield text.removeprefix("\ufeff") if number == 1 else text


def _skip_rest_of_line(file: IO[bytes]) -> None:
    while (part := file.readline(SKIP_BYTES)) and not part.endswith(b"\n"):
        pass


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    added: int = 0  # new leads in the campaign (a contact already in it is not added twice)
    outside_segment: int = 0  # good rows whose tags are not in the campaign's segment
    rejected_count: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED:
            self.rejected.append(RejectedRow(line, reason))


@dataclass(frozen=True)
class ParsedRow:
    line: int
    draft: ContactDraft


class ContactParser:
    """Turns CSV lines into contact drafts; remembers numbers seen to reject duplicates.

    ``lines`` are the file's physical lines (line ends kept); line N of the file is the Nth.
    ``allow_vanity`` lets numbers be written with keypad letters (1-800-FLOWERS)."""

    def __init__(
        self,
        default_zone: str,
        default_region: str = "US",
        *,
        allow_vanity: bool = False,
        needs: frozenset[str] = frozenset(),
    ) -> None:
        self.default_zone = default_zone
        self.default_region = default_region
        self.allow_vanity = allow_vanity
        self.needs = needs  # what the campaign's message templates read: each row must have it
        self._seen: dict[str, int] = {}

    def rows(self, lines: Iterable[str], report: ImportReport) -> Iterator[ParsedRow]:
        return (row for row in self.per_line(lines, report) if row is not None)

    def per_line(self, lines: Iterable[str], report: ImportReport) -> Iterator[ParsedRow | None]:
        """One item per line read: its row, or None (a blank line, or a rejected row), so a
        caller can pace its reading even through a long run of bad lines."""
        numbered = enumerate(lines, start=1)
        header = _header(next(numbered, (1, None))[1])
        for line, text in numbered:
            try:
                draft = self._line(header, text, line)
            except ValueError as exc:
                report.rows += 1
                report.reject(line, str(exc))
                yield None
                continue
            if draft is None:
                yield None  # blank lines are not rows
                continue
            report.rows += 1
            report.accepted += 1
            yield ParsedRow(line, draft)

    def _line(self, header: list[str], text: str, line: int) -> ContactDraft | None:
        """The line's contact; None for a blank line (or one of empty fields)."""
        if not text.strip():
            return None
        values = _record(text)
        if not any(v.strip() for v in values):
            return None
        draft = self._draft(header, values)
        self._check_unique(draft.phone, line)
        return draft

    def _draft(self, header: list[str], values: list[str]) -> ContactDraft:
        if values[-1].endswith(("\n", "\r")):  # an open quote took in the line end
            raise ValueError("a quote is left open: a field cannot run past the end of its line")
        if len(values) != len(header):
            raise ValueError(f"expected {len(header)} columns, found {len(values)}")
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        _check_text(row)
        try:
            phone = normalize(row["phone"], self.default_region, allow_vanity=self.allow_vanity)
        except InvalidNumber as exc:
            raise ValueError(f"phone: {exc}") from exc
        timezone = row.get("timezone") or None
        zones = (_check_zone(timezone),) if timezone else zones_for(phone, self.default_zone)
        try:
            quiet = parse_ranges(row.get("quiet_hours", ""))
        except ValueError as exc:
            raise ValueError(f"quiet_hours: {exc}") from exc
        if row.get(EMAIL_COLUMN):
            row[EMAIL_COLUMN] = _email(row[EMAIL_COLUMN])
        missing = sorted(name for name in self.needs if not row.get(name))
        if missing:  # never a message with a blank where the value should be
            raise ValueError(f"{missing[0]}: the campaign's messages use it; this row has none")
        return ContactDraft(
            phone=phone,
            zone_key=zone_key(zones),
            name=row.get("name") or None,
            timezone=timezone,
            tags=tuple(t.strip() for t in row.get("tags", "").split(";") if t.strip()),
            attributes={k: v for k, v in row.items() if k not in KNOWN_COLUMNS and v},
            quiet_hours=quiet,
        )

    def _check_unique(self, phone: str, line: int) -> None:
        first = self._seen.setdefault(phone, line)
        if first != line:
            raise ValueError(f"duplicate of line {first} ({phone[:5]}…)")


def _email(text: str) -> str:
    """The address in its normalised form (the domain in lower case, IDNA decoded), checked
    by its syntax alone: no DNS lookup at import."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"email: {exc}") from exc


def _record(text: str) -> list[str]:
    """One line's fields. A quote left open keeps the line end in its field (refused later)
    instead of reading on into the next lines."""
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"the line is longer than {MAX_LINE_CHARS:,} characters")
    try:
        return next(csv.reader((text,)), [])
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise ValueError(f"a field is longer than {MAX_FIELD_CHARS:,} characters") from exc
        if "new-line" in str(exc):
            raise ValueError("a line break inside a field (a lone carriage return)") from exc
        raise ValueError(f"not a CSV line ({exc})") from exc


def _header(text: str | None) -> list[str]:
    if text is None:
        raise InvalidInput(Problem("line 1", "the file is empty; expected a header row"))
    try:
        names = _record(text)
    except ValueError as exc:
        raise InvalidInput(Problem("line 1", f"the header: {exc}")) from exc
    if len(names) > MAX_COLUMNS:
        raise InvalidInput(
            Problem(
                "line 1",
                f"the header has {len(names):,} columns; at most {MAX_COLUMNS:,} are allowed",
            )
        )
    header = [name.strip().lower() for name in names]
    for number, name in enumerate(header, start=1):
        if found := _CONTROL.search(name):
            raise InvalidInput(Problem("line 1", f"column {number}: {_control(found[0])}"))
    if "phone" not in header:
        raise InvalidInput(Problem("line 1", "the header has no 'phone' column"))
    duplicates = sorted(n for n, count in Counter(header).items() if count > 1)
    if duplicates:
        raise InvalidInput(Problem("line 1", f"repeated columns: {', '.join(duplicates)}"))
    return header


def _check_text(row: dict[str, str]) -> None:
    """Every value is plain text of a bounded length (the database refuses NUL, and no
    contact field has a use for control characters)."""
    for column, value in row.items():
        if len(value) > MAX_FIELD_CHARS:
            raise ValueError(f"{column}: longer than {MAX_FIELD_CHARS:,} characters")
        if found := _CONTROL.search(value):
            raise ValueError(f"{column}: {_control(found[0])}")


def _control(char: str) -> str:
    if char in "\r\n":
        return "contains a line break"
    return f"contains a control character (U+{ord(char):04X})"


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone: unknown time zone {name!r}") from exc
    return name


async def _paced(items: Iterable[T]) -> AsyncIterator[T]:
    """The items of a CPU-bound iterator, giving the event loop a turn at least every
    SLICE_SECONDS: webhooks, dispatching and health checks share the loop with an import.
    (Not a worker thread: under the GIL, a parsing thread delays each of the loop's wake-ups.)"""
    turn_ends = time.monotonic() + SLICE_SECONDS
    for item in items:
        yield item
        if time.monotonic() >= turn_ends:
            await asyncio.sleep(0)
            turn_ends = time.monotonic() + SLICE_SECONDS


async def _chunks(rows: Iterator[ParsedRow | None]) -> AsyncIterator[list[ParsedRow]]:
    """Rows in chunks of CHUNK_ROWS rows, or fewer when they are wide (CHUNK_VALUES)."""
    chunk: list[ParsedRow] = []
    values = 0
    async for row in _paced(rows):
        if row is None:
            continue
        chunk.append(row)
        values += 1 + len(row.draft.attributes)
        if len(chunk) == CHUNK_ROWS or values >= CHUNK_VALUES:
            yield chunk
            chunk, values = [], 0
    if chunk:
        yield chunk


async def _store_chunk(
    services: Services, campaign: Campaign, drafts: Sequence[ContactDraft]
) -> tuple[int, int]:
    """Store the contacts; add as leads those in the campaign's segment.
    Returns (leads added, contacts outside the segment)."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        ids = await uow.contacts.upsert(campaign.tenant_id, drafts, now)
        items = [
            (cid, d)
            for cid, d in zip(ids, drafts, strict=True)
            if campaign.settings.in_segment(d.tags)
        ]
        added = await uow.leads.add(campaign, items, now)
        await uow.commit()
    return added, len(drafts) - len(items)


def check_contacts(
    source: Callable[[], Iterable[str]], default_zone: str, *, allow_vanity: bool = False
) -> ImportReport:
    """Check every row without storing anything; raise InvalidInput listing the bad rows."""
    report = ImportReport()
    for _ in ContactParser(default_zone, allow_vanity=allow_vanity).rows(source(), report):
        pass
    _refuse_rejected(report)
    return report


async def _check_paced(parser: ContactParser, lines: Iterable[str]) -> None:
    """check_contacts, giving the event loop its turns."""
    report = ImportReport()
    async for _ in _paced(parser.per_line(lines, report)):
        pass
    _refuse_rejected(report)


def _refuse_rejected(report: ImportReport) -> None:
    if report.rejected_count:
        raise InvalidInput([Problem(f"line {r.line}", r.reason) for r in report.rejected])


async def import_contacts(
    services: Services,
    campaign_id: int,
    source: Callable[[], Iterable[str]],
    *,
    strict: bool = False,
) -> ImportReport:
    """Import a contacts CSV into a campaign; ``source()`` gives the file's lines.

    Strict mode checks every row first and stores nothing if one is bad (it reads the source
    twice); lenient mode stores the good rows and reports the others."""
    async with services.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
    zone = campaign.settings.default_timezone
    vanity = services.allow_vanity_numbers
    needs = template_names(campaign.settings.steps)
    if strict:
        await _check_paced(ContactParser(zone, allow_vanity=vanity, needs=needs), source())
    report = ImportReport()
    parser = ContactParser(zone, allow_vanity=vanity, needs=needs)
    async for chunk in _chunks(parser.per_line(source(), report)):
        added, outside = await _store_chunk(services, campaign, [r.draft for r in chunk])
        report.added += added
        report.outside_segment += outside
    return report


async def skip_listed(services: Services, campaign: Campaign) -> int:
    """Mark SKIPPED (outcome ``do_not_call``) the campaign's leads whose numbers are on a
    do-not-call list; returns how many. The dispatcher checks the lists at dial time anyway (a
    number listed later is still never dialled); doing it at import lets the operator see them
    before the campaign starts, and keeps progress counts right from the beginning."""
    async with services.store.unit() as uow:
        skipped = await uow.leads.skip_listed(campaign, DO_NOT_CALL, services.clock.now())
        await uow.commit()
    return skipped


async def import_drafts(
    services: Services, campaign_id: int, drafts: Sequence[ContactDraft]
) -> int:
    """Store already-validated contacts (the demo uses this)."""
    async with services.store.unit() as uow:
        campaign = await uow.campaigns.get(campaign_id)
    added = 0
    for start in range(0, len(drafts), CHUNK_ROWS):
        added += (await _store_chunk(services, campaign, drafts[start : start + CHUNK_ROWS]))[0]
    return added
