"""Contact import from the dashboard: the uploaded CSV goes through the very import the REST
API uses (same parser, same checks, same do-not-call marking), and the outcome becomes a
notice with the rejection report: line, field and reason of each refused row."""

from __future__ import annotations

import codecs
import re
from typing import IO

from dialer.api.dashboard.sessions import Notice
from dialer.domain.model import Campaign
from dialer.errors import InvalidInput, Problem
from dialer.services.contacts import (
    KNOWN_COLUMNS,
    ImportReport,
    file_lines,
    import_contacts,
    skip_listed,
)
from dialer.services.context import Services

CHUNK = 1 << 16
FIELDS = KNOWN_COLUMNS  # a rejection naming one of these columns is shown under it
_DUPLICATE = re.compile(r"^duplicate of line \d+")


def check_utf8(file: IO[bytes]) -> None:
    """Refuse a file that is not UTF-8 text, naming the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    file.seek(0)
    while True:
        chunk = file.read(CHUNK)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = offset + exc.start
            raise InvalidInput(Problem("file", f"not UTF-8 text (byte {at})")) from exc
        if not chunk:
            return
        offset += len(chunk)


def split_reason(where: str, reason: str) -> tuple[str, str]:
    """``(field, reason)`` of a rejection: the column it concerns, ``header`` or ``file`` for
    the file as a whole, ``row`` for the row as a whole (a wrong number of columns)."""
    name, _, rest = reason.partition(": ")
    if name in FIELDS and rest:
        return name, rest
    if _DUPLICATE.match(reason):
        return "phone", reason
    if where in ("line 1", "file"):
        return ("header" if where == "line 1" else "file"), reason
    return "row", reason


def _rows(problems: list[tuple[str, str]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((where, *split_reason(where, reason)) for where, reason in problems)


def _summary(report: ImportReport, skipped: int) -> str:
    parts = [
        f"{report.rows} rows read",
        f"{report.added} leads added",
        f"{report.rejected_count} rejected",
    ]
    if report.outside_segment:
        parts.append(f"{report.outside_segment} outside the campaign's segment")
    if skipped:
        parts.append(f"{skipped} on a do-not-call list (skipped)")
    return "Imported: " + ", ".join(parts) + "."


async def import_upload(
    services: Services, campaign: Campaign, file: IO[bytes], strict: bool
) -> Notice:
    """Import the file; the notice says what was kept and lists every rejected row."""
    try:
        check_utf8(file)
        report = await import_contacts(
            services, campaign.id, lambda: file_lines(file), strict=strict
        )
    except InvalidInput as exc:
        refused = [(p.location, p.message) for p in exc.problems]
        text = "Nothing was imported: the file was refused."
        return Notice("error", text, _rows(refused))
    skipped = await skip_listed(services, campaign)
    rejected = [(f"line {r.line}", r.reason) for r in report.rejected]
    kind = "error" if report.rejected_count else "ok"
    return Notice(kind, _summary(report, skipped), _rows(rejected))
