"""Calling windows: when a contact may be called, in the contact's own local time.

A window is a weekly plan of time ranges, evaluated on the wall clock of the contact's zone, so
daylight-saving changes are handled by construction: 09:00 stays 09:00 local on both sides of a
transition. A contact whose number spans several zones may be called only when the window is open
in every one of them (the most restrictive intersection).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECONDS_PER_DAY = 86400
_SEARCH_DAYS = 16  # in one zone a weekly plan repeats: two weeks always find an opening
_INTERSECTION_DAYS = 370  # zones with different DST rules may overlap only part of the year
# Contact-local hours when nothing says otherwise, every day: campaigns and API calls alike.
DEFAULT_START, DEFAULT_END = "08:00", "21:00"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, order=True)
class TimeRange:
    """[start, end) in seconds after local midnight; end may be 86400 (24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= SECONDS_PER_DAY:
            raise ValueError("a time range needs 00:00 <= start < end <= 24:00")

    def contains(self, second_of_day: int) -> bool:
        return self.start <= second_of_day < self.end


def parse_clock(text: str) -> int:
    """'09:00' -> 32400; '24:00' is allowed as the end of the day."""
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError as exc:
        raise ValueError(f"expected a time like 09:00, got {text!r}") from exc
    if (h, m) == (24, 0):
        return SECONDS_PER_DAY
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"expected a time like 09:00, got {text!r}")
    return h * 3600 + m * 60


def format_clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_range(text: str) -> TimeRange:
    """'09:00-12:30' -> TimeRange(32400, 45000)."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected a range like 09:00-12:00, got {text!r}")
    first, last = parse_clock(start.strip()), parse_clock(end.strip())
    if first >= last:
        raise ValueError(f"range {text!r} must start before it ends")
    return TimeRange(first, last)


def format_range(r: TimeRange) -> str:
    return f"{format_clock(r.start)}-{format_clock(r.end)}"


@dataclass(frozen=True)
class CallingWindow:
    """``weekly[d]`` holds the open ranges of weekday d (0 = Monday), in local time;
    ``closed`` holds local dates (holidays, blackout days) when it does not open at all."""

    weekly: tuple[tuple[TimeRange, ...], ...]
    closed: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("a weekly plan has seven days")
        for ranges in self.weekly:
            ordered = sorted(ranges)
            for first, second in itertools.pairwise(ordered):
                if second.start < first.end:
                    raise ValueError(
                        f"ranges {format_range(first)} and {format_range(second)} overlap"
                    )

    @classmethod
    def daily(cls, days: Iterable[int], start: int, end: int) -> CallingWindow:
        open_days = set(days)
        ranges = (TimeRange(start, end),)
        return cls(tuple(ranges if d in open_days else () for d in range(7)))

    @classmethod
    def always(cls) -> CallingWindow:
        return cls.daily(range(7), 0, SECONDS_PER_DAY)

    @classmethod
    def default(cls) -> CallingWindow:
        """Every day, DEFAULT_START to DEFAULT_END contact-local."""
        return cls.daily(range(7), parse_clock(DEFAULT_START), parse_clock(DEFAULT_END))

    @classmethod
    def every_day(cls, ranges: Sequence[TimeRange]) -> CallingWindow:
        return cls(tuple(tuple(ranges) for _ in range(7)))

    def outside(self, hours: Sequence[TimeRange]) -> list[str]:
        """This plan's ranges that do not lie inside ``hours`` (the same every day), as
        'mon 02:00-04:00'; empty when the whole plan keeps within them."""
        return [
            f"{DAY_NAMES[day]} {format_range(r)}"
            for day, ranges in enumerate(self.weekly)
            for r in sorted(ranges)
            if not any(h.start <= r.start and r.end <= h.end for h in hours)
        ]

    def key(self) -> str:
        """A canonical text of the plan and closed dates: equal windows, equal keys."""
        days = ";".join(",".join(format_range(r) for r in sorted(day)) for day in self.weekly)
        closed = ",".join(d.isoformat() for d in sorted(self.closed))
        return f"{days}|{closed}"

    def is_open(self, instant: datetime, zones: Sequence[str]) -> bool:
        return all(self._open_in(instant, name) for name in zones)

    def next_open(self, instant: datetime, zones: Sequence[str]) -> datetime | None:
        """The first instant at or after ``instant`` when the window is open in every zone;
        None when it never opens (no open day, or zones whose hours never overlap)."""
        candidate = instant
        limit = instant + timedelta(days=_INTERSECTION_DAYS)
        while candidate <= limit:
            openings = [self._next_open_in(candidate, name) for name in zones]
            if any(opening is None for opening in openings):
                return None
            later = max(o for o in openings if o is not None)
            if self.is_open(later, zones):
                return later
            # Open in the zone that opens last but closed in another: move past that moment.
            candidate = later + timedelta(seconds=1)
        return None

    def _open_in(self, instant: datetime, zone_name: str) -> bool:
        local = instant.astimezone(zone(zone_name))
        if self.closed and local.date() in self.closed:
            return False
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(r.contains(second) for r in self.weekly[local.weekday()])

    def _next_open_in(self, instant: datetime, zone_name: str) -> datetime | None:
        if self._open_in(instant, zone_name):
            return instant
        tz = zone(zone_name)
        first_day = instant.astimezone(tz).date() - timedelta(days=1)
        # A window opens either where a range starts on the wall clock, or where the wall clock
        # itself jumps into a range (the end of a spring-forward gap, the repeated fall-back
        # hour): both kinds of instant are candidates.
        candidates = sorted(
            c
            for c in (
                *self._range_starts(first_day, tz),
                *_offset_changes(first_day, tz, self._search_days),
            )
            if c > instant
        )
        return next((c for c in candidates if self._open_in(c, zone_name)), None)

    def _range_starts(self, first_day: date, tz: ZoneInfo) -> Iterator[datetime]:
        for offset in range(self._search_days):
            day = first_day + timedelta(days=offset)
            for r in self.weekly[day.weekday()]:
                wall = datetime.combine(day, time()) + timedelta(seconds=r.start)
                for fold in (0, 1):  # an ambiguous wall time occurs twice
                    yield wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)

    def open_until(self, instant: datetime, zones: Sequence[str]) -> datetime | None:
        """When the window (open at ``instant``) next closes in any of the zones; None when it
        is closed now. Used to call first the contacts whose window closes soonest."""
        ends = []
        for name in zones:
            local = instant.astimezone(zone(name))
            second = local.hour * 3600 + local.minute * 60 + local.second
            current = [r for r in self.weekly[local.weekday()] if r.contains(second)]
            if not current or (self.closed and local.date() in self.closed):
                return None
            ends.append(instant + timedelta(seconds=current[0].end - second))
        return min(ends)

    def without(self, quiet: Sequence[TimeRange]) -> CallingWindow:
        """This window with the same local ranges taken out of every day: a contact's own
        quiet hours (do-not-disturb) on top of the campaign's window."""
        if not quiet:
            return self
        weekly = tuple(tuple(_subtract(ranges, quiet)) for ranges in self.weekly)
        return CallingWindow(weekly, self.closed)

    @property
    def _search_days(self) -> int:
        # Closed dates can only push an opening later, by at most their number of days.
        return _SEARCH_DAYS + len(self.closed)

    def describe(self) -> str:
        parts = []
        for day, ranges in zip(DAY_NAMES, self.weekly, strict=True):
            if ranges:
                spans = ",".join(format_range(r) for r in ranges)
                parts.append(f"{day} {spans}")
        return "; ".join(parts) or "never open"


def _offset_changes(first_day: date, tz: ZoneInfo, days: int) -> Iterator[datetime]:
    """The instants at which the zone's UTC offset changes, within the search horizon."""
    start = datetime.combine(first_day, time(), tzinfo=UTC)
    for offset in range(days):
        low, high = start + timedelta(days=offset), start + timedelta(days=offset + 1)
        if low.astimezone(tz).utcoffset() != high.astimezone(tz).utcoffset():
            yield _transition(low, high, tz)


def _transition(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first whole second at which the offset differs from the one at ``low``."""
    before = low.astimezone(tz).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            lo = middle
        else:
            hi = middle
    return datetime.fromtimestamp(hi, UTC)


def _subtract(ranges: Sequence[TimeRange], quiet: Sequence[TimeRange]) -> Iterator[TimeRange]:
    for r in ranges:
        pieces = [(r.start, r.end)]
        for q in quiet:
            pieces = [
                part
                for start, end in pieces
                for part in ((start, min(end, q.start)), (max(start, q.end), end))
                if part[0] < part[1]
            ]
        yield from (TimeRange(start, end) for start, end in pieces)


def parse_ranges(text: str) -> tuple[TimeRange, ...]:
    """'12:00-14:00;20:00-21:00' -> two ranges; '' -> none."""
    return tuple(sorted(parse_range(part) for part in text.split(";") if part.strip()))


def format_ranges(ranges: Sequence[TimeRange]) -> str:
    return ";".join(format_range(r) for r in ranges)
