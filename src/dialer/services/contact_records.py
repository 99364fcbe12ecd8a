"""Contacts given as JSON records: written as the lines of a contacts CSV, so they go through
the very parser and checks a file does."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from dialer.errors import InvalidInput, Problem

BASE_COLUMNS = ("phone", "name", "timezone", "tags", "quiet_hours")


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
    go through the very parser and checks a file does: record i is on line i + 2. Each
    record is written as a line of its own, so no character in a value (U+2028 and the like,
    which str.splitlines takes for line ends) can split it. Raises InvalidInput naming each
    attribute the CSV would lose: one named as a contact field, or two differing in case."""
    _check_attribute_names(records)
    extra = sorted({_column(k) for r in records for k in r.attributes})
    lines = [_csv_line([*BASE_COLUMNS, *extra])]
    for r in records:
        attributes = {_column(k): v for k, v in r.attributes.items()}
        base = [r.phone, r.name or "", r.timezone or "", ";".join(r.tags), r.quiet_hours or ""]
        lines.append(_csv_line(base + [attributes.get(k, "") for k in extra]))
    return lines


def _column(attribute: str) -> str:
    """The CSV column an attribute becomes (the parser reads column names so)."""
    return attribute.strip().lower()


def _csv_line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _check_attribute_names(records: Sequence[ContactRecord]) -> None:
    problems = [p for i, r in enumerate(records) for p in _attribute_problems(i, r.attributes)]
    if problems:
        raise InvalidInput(problems)


def _attribute_problems(index: int, attributes: Mapping[str, str]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for name in attributes:
        column = _column(name)
        where = f"contacts[{index}].attributes.{name}"
        if column in BASE_COLUMNS:
            field = f"contacts[{index}].{column}"
            yield Problem(where, f"{column!r} is a contact field: give it as {field}")
        elif column in seen:
            yield Problem(where, f"the same attribute as {seen[column]!r} (names ignore case)")
        seen.setdefault(column, name)


def record_location(line: int) -> str:
    return f"contacts[{line - 2}]"
