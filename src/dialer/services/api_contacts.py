"""Contact use cases the REST API adds: do-not-call at import, list pages, JSON contacts.

Import and do-not-call: the dispatcher checks the lists at dial time (a number listed later is
still never dialled). On top of that, an import marks the leads of listed numbers SKIPPED at
once (outcome ``do_not_call``) and reports how many, so the operator sees them before the
campaign starts and progress counts are right from the beginning."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dialer.domain.model import Campaign
from dialer.services.context import Services
from dialer.services.dispatch import DO_NOT_CALL

BASE_COLUMNS = ("phone", "name", "timezone", "tags", "quiet_hours")


async def skip_listed(services: Services, campaign: Campaign) -> int:
    async with services.store.unit() as uow:
        skipped = await uow.skip_listed_leads(campaign, DO_NOT_CALL, services.clock.now())
        await uow.commit()
    return skipped


@dataclass(frozen=True)
class ContactRecord:
    """One contact given as JSON; the same fields as a CSV row."""

    phone: str
    name: str | None = None
    timezone: str | None = None
    tags: Sequence[str] = ()
    quiet_hours: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def csv_lines(records: Sequence[ContactRecord]) -> list[str]:
    """The records as a contacts CSV (a header, then one line per record), so JSON contacts
    go through the very parser and checks a file does: record i is on line i + 2."""
    extra = sorted({k.lower() for r in records for k in r.attributes} - set(BASE_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*BASE_COLUMNS, *extra])
    for r in records:
        attributes = {k.lower(): v for k, v in r.attributes.items()}
        base = [r.phone, r.name or "", r.timezone or "", ";".join(r.tags), r.quiet_hours or ""]
        writer.writerow(base + [attributes.get(k, "") for k in extra])
    return out.getvalue().splitlines(keepends=True)


def record_location(line: int) -> str:
    return f"contacts[{line - 2}]"
