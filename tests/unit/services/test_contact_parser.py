"""The contacts CSV parser on hostile input: bounded header and fields, one record per line
(an open quote never swallows the rows after it), control characters refused, letters in
numbers refused unless vanity numbers are allowed. Pure: nothing is stored."""

from __future__ import annotations

import io
import re
import time

import pytest

from dialer.errors import InvalidInput
from dialer.services.contacts import (
    MAX_COLUMNS,
    MAX_FIELD_CHARS,
    MAX_LINE_BYTES,
    MAX_LINE_CHARS,
    ContactParser,
    ImportReport,
    ParsedRow,
    file_lines,
)

ZONE = "America/New_York"


def lines(text: str) -> list[str]:
    """Split as a file is read: at line feeds only (str.splitlines also splits at U+2028)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def parse(text: str, **options: bool) -> tuple[list[ParsedRow], ImportReport]:
    report = ImportReport()
    rows = list(ContactParser(ZONE, **options).rows(lines(text), report))
    return rows, report


def rejections(report: ImportReport) -> list[str]:
    return [str(r) for r in report.rejected]


def refusal(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse(text)
    [problem] = info.value.problems
    return f"{problem.location}: {problem.message}"


def test_a_header_wider_than_the_bound_is_refused_naming_the_header() -> None:
    header = "phone," + ",".join(f"c{i}" for i in range(MAX_COLUMNS)) + "\n"
    assert refusal(header + "+12125550142\n") == (
        f"line 1: the header has {MAX_COLUMNS + 1:,} columns; at most {MAX_COLUMNS:,} are allowed"
    )


def test_a_header_at_the_bound_is_read() -> None:
    header = "phone," + ",".join(f"c{i}" for i in range(MAX_COLUMNS - 1)) + "\n"
    row = "+12125550142," + ",".join("v" for _ in range(MAX_COLUMNS - 1)) + "\n"
    rows, report = parse(header + row)
    assert (report.accepted, len(rows[0].draft.attributes)) == (1, MAX_COLUMNS - 1)


def test_a_header_of_100000_columns_is_refused_at_once() -> None:
    """Duplicate detection used to compare every column with every other (minutes of CPU)."""
    header = "phone," + ",".join(f"c{i}" for i in range(100_000)) + "\n"  # 690 KB
    started = time.perf_counter()
    assert refusal(header).startswith("line 1: the header has 100,001 columns")
    assert time.perf_counter() - started < 1.0


def test_repeated_columns_are_found_in_a_wide_header() -> None:
    names = [f"c{i}" for i in range(MAX_COLUMNS - 3)]
    header = ",".join(["phone", *names, "C7", "c9"]) + "\n"
    assert refusal(header) == "line 1: repeated columns: c7, c9"


def test_a_control_character_in_a_column_name_is_refused() -> None:
    assert refusal("phone,pl\x00an\n") == (
        "line 1: column 2: contains a control character (U+0000)"
    )


def test_an_over_long_field_rejects_its_row_only() -> None:
    long_name = "n" * (MAX_FIELD_CHARS + 1)
    text = f"phone,name\n+12125550101,Ann\n+12125550102,{long_name}\n+12125550103,Cid\n"
    rows, report = parse(text)
    assert [r.line for r in rows] == [2, 4]
    assert rejections(report) == [f"line 3: name: longer than {MAX_FIELD_CHARS:,} characters"]


def test_a_field_past_the_csv_modules_own_limit_rejects_its_row_only() -> None:
    """Python's csv module raises on a field over 128 KiB: that is one bad row, not a crash."""
    huge = "x" * (200 * 1024)
    text = f'phone,name\n+12125550101,"{huge}"\n+12125550102,{huge}\n+12125550103,Cid\n'
    rows, report = parse(text)
    assert [r.line for r in rows] == [4]
    assert [r.line for r in report.rejected] == [2, 3]
    assert all("longer than" in r.reason for r in report.rejected)


def test_an_unterminated_quote_rejects_its_line_and_keeps_the_rows_after_it() -> None:
    text = (
        'phone,name,plan\n+12125550101,"Ann,gold\n+12125550102,Ben,silver\n+12125550103,Cid,gold\n'
    )
    rows, report = parse(text)
    assert [(r.line, r.draft.name) for r in rows] == [(3, "Ben"), (4, "Cid")]
    [rejected] = report.rejected
    assert rejected.line == 2
    assert "quote" in rejected.reason
    assert (report.rows, report.accepted, report.rejected_count) == (3, 2, 1)


def test_a_quoted_field_may_not_run_onto_the_next_line() -> None:
    """A record is one line: the second half of a multi-line field is not a contact."""
    text = 'phone,name\n+12125550101,"Ann\n+12125550102"\n'
    rows, report = parse(text)
    assert rows == []
    assert [r.line for r in report.rejected] == [2, 3]


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        ("+12125550101,A\x00nn,gold", "name", "U+0000"),
        ("+12125550101,Ann,go\x00ld", "plan", "U+0000"),
        ("+12125550101\x00,Ann,gold", "phone", "U+0000"),
        ("+12125550101,An\x1bn,gold", "name", "U+001B"),
        ("+12125550101,An\x7fn,gold", "name", "U+007F"),
        ('+12125550101,"An\rn",gold', "name", "line break"),
    ],
)
def test_a_control_character_in_a_field_rejects_the_row_naming_the_column(
    row: str, column: str, code: str
) -> None:
    rows, report = parse(f"phone,name,plan\n{row}\n+12125550102,Ben,gold\n")
    assert [r.line for r in rows] == [3]
    [rejected] = report.rejected
    assert rejected.line == 2
    assert rejected.reason.startswith(f"{column}: ")
    assert code in rejected.reason


def test_a_lone_carriage_return_in_a_line_rejects_the_row() -> None:
    rows, report = parse("phone,name\n+12125550101,An\rn\n+12125550102,Ben\n")
    assert [r.line for r in rows] == [3]
    assert [(r.line, "line break" in r.reason) for r in report.rejected] == [(2, True)]


def test_a_line_longer_than_the_bound_rejects_its_row_only() -> None:
    wide = ",".join(["v" * 1000] * 1100)
    rows, report = parse(f"phone,a\n+12125550101,{wide}\n+12125550102,b\n")
    assert [r.line for r in rows] == [3]
    assert [str(r) for r in report.rejected] == [
        f"line 2: the line is longer than {MAX_LINE_CHARS:,} characters"
    ]


def test_tabs_around_a_value_are_trimmed_as_spaces_are() -> None:
    rows, _ = parse("phone,name\n+12125550101,\tAnn \n")
    assert rows[0].draft.name == "Ann"


def test_a_line_separator_inside_a_name_is_part_of_the_name() -> None:
    """U+2028 is text, not a line end: the row stays one contact."""
    rows, report = parse("phone,name\n+12125550101,Ann\u2028Lee\n+12125550102,Ben\n")
    assert [r.draft.name for r in rows] == ["Ann\u2028Lee", "Ben"]
    assert report.rejected_count == 0


def test_letters_in_a_number_reject_the_row_unless_vanity_numbers_are_allowed() -> None:
    text = "phone\n+1312555xxxx\n212-555-CALL\n212.555.0142 x12\n"
    _, strict = parse(text)
    assert [(r.line, "letters" in r.reason) for r in strict.rejected[:2]] == [
        (2, True),
        (3, True),
    ]
    assert "extension 12" in strict.rejected[2].reason
    rows, vanity = parse(text, allow_vanity=True)
    assert [r.draft.phone for r in rows] == ["+13125559999", "+12125552255"]
    assert [r.line for r in vanity.rejected] == [4]  # an extension is never dropped


class CountingFile(io.BytesIO):
    """A file that remembers the largest single read asked of it."""

    largest_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.largest_read = max(self.largest_read, len(line))
        return line


def test_a_huge_line_is_read_with_a_bound_and_rejected_alone() -> None:
    huge = b"+12125550101," + b"x" * (20 * MAX_LINE_BYTES)  # 80 MiB with no line break
    file = CountingFile(b"phone,name\n" + huge + b"\n+12125550102,b\n+12125550103,c")
    report = ImportReport()
    rows = list(ContactParser(ZONE).rows(file_lines(file), report))
    assert [r.line for r in rows] == [3, 4]
    assert rejections(report) == [f"line 2: the line is longer than {MAX_LINE_CHARS:,} characters"]
    assert file.largest_read <= MAX_LINE_BYTES  # never the whole line in memory


def test_a_line_at_the_bound_of_wide_characters_is_whole() -> None:
    """A line of four-byte characters up to the character bound is read in one piece."""
    name = "😀" * (MAX_LINE_CHARS - 20)
    file = io.BytesIO(f"phone,name\n+12125550101,{name}\n".encode())
    assert [len(line) for line in file_lines(file)] == [11, MAX_LINE_CHARS - 6]


def test_a_file_that_is_not_utf8_is_refused_naming_the_line() -> None:
    file = io.BytesIO("phone,name\n+12125550101,Zoë\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="line 2: not UTF-8 text"):
        list(file_lines(file))


def test_a_byte_order_mark_is_not_part_of_the_header() -> None:
    file = io.BytesIO("\ufeffphone\n+12125550101\n".encode())
    assert list(file_lines(file)) == ["phone\n", "+12125550101\n"]


def test_an_email_column_is_checked_and_kept_normalised_for_email_steps() -> None:
    rows, report = parse(
        "phone,name,email\n"
        "+12125550100,Ann,Ann@Example.COM\n"
        "+12125550101,Bob,not-an-address\n"
        "+12125550102,Cy,\n"
    )
    assert [(r.line, r.draft.attributes) for r in rows] == [
        (2, {"email": "Ann@example.com"}),  # the domain part is case-insensitive
        (4, {}),  # no address: this contact gets no email steps, and that is no error
    ]
    [bad] = rejections(report)
    assert bad.startswith("line 3: email: ")
    assert "@" in bad


def test_a_row_without_a_value_the_campaigns_messages_read_is_rejected() -> None:
    report = ImportReport()
    text = "phone,name,day\n+12125550100,Ann,Friday\n+12125550101,,Monday\n+12125550102,Cy,\n"
    parser = ContactParser(ZONE, needs=frozenset({"name", "day"}))
    rows = list(parser.rows(lines(text), report))
    assert [r.draft.phone for r in rows] == ["+12125550100"]
    assert rejections(report) == [
        "line 3: name: the campaign's messages use it; this row has none",
        "line 4: day: the campaign's messages use it; this row has none",
    ]
