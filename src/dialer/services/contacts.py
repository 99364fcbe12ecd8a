"""Contact import: every CSV row checked, rejected rows reported by line number.

Strict mode refuses the whole import when any row is bad (nothing is stored); lenient mode
keeps the good rows. The file is read as a stream and stored in chunks, so a file of millions
of rows needs memory only for the numbers already seen (to catch duplicates)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.domain.model import Campaign
from dialer.domain.phone import InvalidNumber, normalize, zone_key, zones_for
from dialer.domain.window import parse_ranges
from dialer.errors import InvalidInput, Problem
from dialer.ports import ContactDraft
from dialer.services.context import Services

KNOWN_COLUMNS = frozenset({"phone", "name", "timezone", "tags", "quiet_hours"})
CHUNK_ROWS = 1000
MAX_REPORTED = 1000  # rejected rows listed in a report; the count is always exact


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
    """Turns CSV text into contact drafts; remembers numbers seen to reject duplicates."""

    def __init__(self, default_zone: str, default_region: str = "US") -> None:
        self.default_zone = default_zone
        self.default_region = default_region
        self._seen: dict[str, int] = {}

    def rows(self, lines: Iterable[str], report: ImportReport) -> Iterator[ParsedRow]:
        reader = csv.reader(lines)
        header = self._header(next(reader, None))
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines are not rows
            report.rows += 1
            try:
                draft = self._draft(header, values)
                self._check_unique(draft.phone, reader.line_num)
            except ValueError as exc:
                report.reject(reader.line_num, str(exc))
                continue
            report.accepted += 1
            yield ParsedRow(reader.line_num, draft)

    def _header(self, row: list[str] | None) -> list[str]:
        if row is None:
            raise InvalidInput(Problem("line 1", "the file is empty; expected a header row"))
        header = [name.strip().lower() for name in row]
        if "phone" not in header:
            raise InvalidInput(Problem("line 1", "the header has no 'phone' column"))
        duplicates = sorted({n for n in header if header.count(n) > 1})
        if duplicates:
            raise InvalidInput(Problem("line 1", f"repeated columns: {', '.join(duplicates)}"))
        return header

    def _draft(self, header: list[str], values: list[str]) -> ContactDraft:
        if len(values) != len(header):
            raise ValueError(f"expected {len(header)} columns, found {len(values)}")
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        try:
            phone = normalize(row["phone"], self.default_region)
        except InvalidNumber as exc:
            raise ValueError(f"phone: {exc}") from exc
        timezone = row.get("timezone") or None
        zones = (_check_zone(timezone),) if timezone else zones_for(phone, self.default_zone)
        try:
            quiet = parse_ranges(row.get("quiet_hours", ""))
        except ValueError as exc:
            raise ValueError(f"quiet_hours: {exc}") from exc
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


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone: unknown time zone {name!r}") from exc
    return name


def _chunks(rows: Iterator[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    chunk: list[ParsedRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _store_chunk(
    services: Services, campaign: Campaign, drafts: Sequence[ContactDraft]
) -> tuple[int, int]:
    """Store the contacts; add as leads those in the campaign's segment.
    Returns (leads added, contacts outside the segment)."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        ids = await uow.upsert_contacts(campaign.tenant_id, drafts, now)
        items = [
            (cid, d)
            for cid, d in zip(ids, drafts, strict=True)
            if campaign.settings.in_segment(d.tags)
        ]
        added = await uow.add_leads(campaign, items, now)
        await uow.commit()
    return added, len(drafts) - len(items)


def check_contacts(source: Callable[[], Iterable[str]], default_zone: str) -> ImportReport:
    """Check every row without storing anything; raise InvalidInput listing the bad rows."""
    report = ImportReport()
    for _ in ContactParser(default_zone).rows(source(), report):
        pass
    if report.rejected_count:
        raise InvalidInput([Problem(f"line {r.line}", r.reason) for r in report.rejected])
    return report


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
        campaign = await uow.get_campaign(campaign_id)
    zone = campaign.settings.default_timezone
    if strict:
        check_contacts(source, zone)
    report = ImportReport()
    for chunk in _chunks(ContactParser(zone).rows(source(), report), CHUNK_ROWS):
        added, outside = await _store_chunk(services, campaign, [r.draft for r in chunk])
        report.added += added
        report.outside_segment += outside
    return report


async def import_drafts(
    services: Services, campaign_id: int, drafts: Sequence[ContactDraft]
) -> int:
    """Store already-validated contacts (the demo uses this)."""
    async with services.store.unit() as uow:
        campaign = await uow.get_campaign(campaign_id)
    added = 0
    for start in range(0, len(drafts), CHUNK_ROWS):
        added += (await _store_chunk(services, campaign, drafts[start : start + CHUNK_ROWS]))[0]
    return added
