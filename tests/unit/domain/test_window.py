"""Calling windows on the contact's own wall clock, across daylight-saving changes, odd offsets,
both hemispheres and several zones at once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.window import (
    SECONDS_PER_DAY,
    CallingWindow,
    TimeRange,
    format_clock,
    parse_clock,
)

NY = "America/New_York"
LA = "America/Los_Angeles"
DST_ZONES = (
    NY,
    "Europe/London",
    "Australia/Sydney",
    "Pacific/Chatham",
    "America/Santiago",
)
FIXED_ZONES = ("America/Phoenix", "Asia/Kolkata")
ZONES = DST_ZONES + FIXED_ZONES
FIRST = datetime(2024, 1, 1, tzinfo=UTC)
LAST = datetime(2031, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)
H = 3600

Ranges = tuple[tuple[tuple[int, int], ...], ...]  # per weekday, (start, end) in seconds


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def local(instant: datetime, zone_name: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone_name))


def at_local(
    zone_name: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    """A wall-clock time that exists exactly once in the zone, as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone_name)).astimezone(UTC)


def window_of(ranges: Ranges) -> CallingWindow:
    return CallingWindow(tuple(tuple(TimeRange(s, e) for s, e in day) for day in ranges))


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Every instant in 2024-2030 at which the zone's UTC offset changes (first instant of the
    new offset), found by scanning days and bisecting to the minute."""
    tz = ZoneInfo(zone_name)
    found = []
    day = FIRST
    while day < LAST:
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = day, nxt
            while hi - lo > MINUTE:
                mid = lo + timedelta(minutes=(hi - lo) // MINUTE // 2)
                same = mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            found.append(hi)
        day = nxt
    return tuple(found)


def ceil_to(instant: datetime, step: timedelta) -> datetime:
    seconds = step.total_seconds()
    return datetime.fromtimestamp(math.ceil(instant.timestamp() / seconds) * seconds, UTC)


def first_open_by_stepping(
    window: CallingWindow, zones: Sequence[str], start: datetime, end: datetime, step: timedelta
) -> datetime | None:
    """The first instant in [start, end) at which the window is open, checking ``start`` and
    then every ``step``-aligned instant. Exact when every boundary is ``step``-aligned in UTC."""
    if start >= end:
        return None
    if window.is_open(start, zones):
        return start
    probe = ceil_to(start, step)
    while probe < end:
        if window.is_open(probe, zones):
            return probe
        probe += step
    return None


def wall_clock_is_inside(ranges: Ranges, instant: datetime, zone_name: str) -> bool:
    wall = local(instant, zone_name)
    second = wall.hour * H + wall.minute * 60 + wall.second
    return any(start <= second < end for start, end in ranges[wall.weekday()])


def check_next_open(
    ranges: Ranges,
    zones: Sequence[str],
    instant: datetime,
    step: timedelta,
    horizon: timedelta,
) -> datetime | None:
    """next_open is the first open instant at or after ``instant`` (checked by stepping up to
    ``horizon``), and an open instant is one whose wall clock is inside a configured range."""
    window = window_of(ranges)
    found = window.next_open(instant, zones)
    stepped_until = instant + horizon if found is None else min(found, instant + horizon)
    earlier = first_open_by_stepping(window, zones, instant, stepped_until, step)
    assert earlier is None, f"open at {earlier} before next_open's {found}"
    if found is not None:
        assert found >= instant
        assert window.is_open(found, zones)
        for name in zones:
            assert wall_clock_is_inside(ranges, found, name), (name, local(found, name))
        if window.is_open(instant, zones):
            assert found == instant
    return found


# --- the helpers this file relies on ---------------------------------------------------------


@pytest.mark.parametrize("zone_name", DST_ZONES)
def test_dst_zones_change_offset_twice_a_year_on_quarter_hours(zone_name: str) -> None:
    found = transitions(zone_name)
    assert 12 <= len(found) <= 14  # 2024-2030, two a year
    for instant in found:
        assert instant.second == 0
        assert instant.minute % 15 == 0  # so stepping by 15 minutes in UTC misses no boundary
        before = local(instant - MINUTE, zone_name).utcoffset()
        after = local(instant, zone_name).utcoffset()
        assert before is not None
        assert after is not None
        assert abs(after - before) == timedelta(hours=1)
        assert after.total_seconds() % 900 == 0


@pytest.mark.parametrize("zone_name", FIXED_ZONES)
def test_zones_without_dst_never_change_offset(zone_name: str) -> None:
    assert transitions(zone_name) == ()


# --- parse_clock / format_clock ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00", 0), ("09:00", 9 * H), ("09:30", 9 * H + 1800), ("23:59", 86340), ("24:00", 86400)],
)
def test_parse_clock(text: str, seconds: int) -> None:
    assert parse_clock(text) == seconds
    assert format_clock(seconds) == text


@pytest.mark.parametrize(
    "text", ["25:00", "24:01", "24:30", "12:60", "-1:00", "noon", "", "9", "09:00:00", "9h"]
)
def test_parse_clock_rejects_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="expected a time like 09:00") as info:
        parse_clock(text)
    assert repr(text) in str(info.value)


@given(st.integers(0, 24 * 60))
def test_format_then_parse_clock_round_trips(minutes: int) -> None:
    text = format_clock(minutes * 60)
    assert len(text) == 5
    assert text[2] == ":"
    assert parse_clock(text) == minutes * 60


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_then_format_clock_round_trips(hour: int, minute: int) -> None:
    text = f"{hour:02d}:{minute:02d}"
    assert format_clock(parse_clock(text)) == text


def test_time_range_bounds() -> None:
    assert TimeRange(0, SECONDS_PER_DAY).contains(SECONDS_PER_DAY - 1)
    assert TimeRange(9 * H, 17 * H).contains(9 * H)
    assert not TimeRange(9 * H, 17 * H).contains(17 * H)
    assert not TimeRange(9 * H, 17 * H).contains(9 * H - 1)
    for start, end in ((5, 5), (10, 5), (-1, 10), (0, SECONDS_PER_DAY + 1)):
        with pytest.raises(ValueError, match="start < end"):
            TimeRange(start, end)


def test_describe() -> None:
    window = CallingWindow.daily(range(5), 9 * H, 20 * H)
    assert window.describe() == "; ".join(
        f"{day} 09:00-20:00" for day in ("mon", "tue", "wed", "thu", "fri")
    )
    assert CallingWindow(((),) * 7).describe() == "never open"
    assert CallingWindow.always().describe().startswith("mon 00:00-24:00; tue 00:00-24:00")


# --- explicit examples -------------------------------------------------------------------------

NINE_TO_FIVE = CallingWindow.daily(range(7), 9 * H, 17 * H)


def test_nine_stays_nine_across_the_us_spring_forward() -> None:
    # Sunday 2024-03-10 02:00 EST -> 03:00 EDT.
    saturday = NINE_TO_FIVE.next_open(utc(2024, 3, 9, 5), [NY])
    sunday = NINE_TO_FIVE.next_open(utc(2024, 3, 9, 22), [NY])  # 17:00 EST: just closed
    assert saturday == utc(2024, 3, 9, 14)  # 09:00 EST
    assert sunday == utc(2024, 3, 10, 13)  # 09:00 EDT
    assert (local(saturday, NY).hour, local(sunday, NY).hour) == (9, 9)
    assert local(saturday, NY).utcoffset() == timedelta(hours=-5)
    assert local(sunday, NY).utcoffset() == timedelta(hours=-4)
    assert NINE_TO_FIVE.is_open(utc(2024, 3, 10, 20, 59), [NY])  # 16:59 EDT
    assert not NINE_TO_FIVE.is_open(utc(2024, 3, 10, 21), [NY])  # 17:00 EDT
    assert not NINE_TO_FIVE.is_open(utc(2024, 3, 10, 12, 59), [NY])  # 08:59 EDT


def test_nine_stays_nine_across_the_us_fall_back() -> None:
    # Sunday 2024-11-03 02:00 EDT -> 01:00 EST.
    saturday = NINE_TO_FIVE.next_open(utc(2024, 11, 2, 4), [NY])
    sunday = NINE_TO_FIVE.next_open(utc(2024, 11, 2, 21), [NY])  # 17:00 EDT: just closed
    assert saturday == utc(2024, 11, 2, 13)  # 09:00 EDT
    assert sunday == utc(2024, 11, 3, 14)  # 09:00 EST
    offsets = [local(t, NY).utcoffset() for t in (saturday, sunday)]
    assert offsets == [timedelta(hours=-4), timedelta(hours=-5)]
    assert NINE_TO_FIVE.is_open(utc(2024, 11, 3, 21, 59), [NY])  # 16:59 EST
    assert not NINE_TO_FIVE.is_open(utc(2024, 11, 3, 22), [NY])  # 17:00 EST


@pytest.mark.parametrize("zone_name", DST_ZONES)
def test_nine_stays_nine_on_both_sides_of_every_transition(zone_name: str) -> None:
    for change in transitions(zone_name):
        after = NINE_TO_FIVE.next_open(change, [zone_name])  # the first 09:00 after the change
        assert after is not None
        before = NINE_TO_FIVE.next_open(after - timedelta(hours=26), [zone_name])
        assert before is not None
        assert before < change < after
        walls = [local(t, zone_name) for t in (before, after)]
        assert [(w.hour, w.minute) for w in walls] == [(9, 0), (9, 0)]
        assert walls[1].date() == walls[0].date() + timedelta(days=1)
        shift = walls[1].utcoffset() - walls[0].utcoffset()  # type: ignore[operator]
        assert abs(shift) == timedelta(hours=1)
        assert after - before == timedelta(days=1) - shift


def test_sydney_springs_forward_in_october() -> None:
    syd = "Australia/Sydney"
    # Sunday 2024-10-06 02:00 AEST -> 03:00 AEDT.
    assert NINE_TO_FIVE.next_open(utc(2024, 10, 4, 14), [syd]) == utc(2024, 10, 4, 23)
    assert NINE_TO_FIVE.next_open(utc(2024, 10, 5, 7), [syd]) == utc(2024, 10, 5, 22)


def test_chatham_opens_at_nine_with_a_quarter_hour_offset() -> None:
    chatham = "Pacific/Chatham"
    # July: +12:45, so 09:00 local is 20:15 UTC the day before.
    assert NINE_TO_FIVE.next_open(utc(2024, 6, 30, 20), [chatham]) == utc(2024, 6, 30, 20, 15)
    assert not NINE_TO_FIVE.is_open(utc(2024, 6, 30, 20, 14), [chatham])
    # January: +13:45.
    assert NINE_TO_FIVE.next_open(utc(2024, 1, 14, 19), [chatham]) == utc(2024, 1, 14, 19, 15)


def test_kolkata_opens_at_nine_with_a_half_hour_offset() -> None:
    for month in (1, 7):
        assert NINE_TO_FIVE.next_open(utc(2024, month, 10), ["Asia/Kolkata"]) == utc(
            2024, month, 10, 3, 30
        )


def test_phoenix_opens_at_the_same_utc_time_all_year() -> None:
    for month in (1, 4, 7, 11):
        assert NINE_TO_FIVE.next_open(utc(2024, month, 10), ["America/Phoenix"]) == utc(
            2024, month, 10, 16
        )


def test_santiago_opens_at_nine_either_side_of_its_changes() -> None:
    scl = "America/Santiago"
    # Winter (-04) and summer (-03).
    assert NINE_TO_FIVE.next_open(utc(2024, 7, 1), [scl]) == utc(2024, 7, 1, 13)
    assert NINE_TO_FIVE.next_open(utc(2024, 12, 1), [scl]) == utc(2024, 12, 1, 12)


def test_window_starting_in_the_spring_forward_gap_opens_when_the_gap_ends() -> None:
    """On 2024-03-10 New York clocks jump from 02:00 EST to 03:00 EDT: 02:30 does not exist.
    A window 02:30-05:00 is open at 03:00 EDT (the wall clock reads 03:00, inside the range),
    so from midnight the next opening is 03:00 EDT = 07:00 UTC."""
    window = CallingWindow.daily(range(7), parse_clock("02:30"), parse_clock("05:00"))
    midnight = utc(2024, 3, 10, 5)  # 00:00 EST
    gap_end = utc(2024, 3, 10, 7)  # 03:00 EDT
    assert window.is_open(gap_end, [NY])
    assert not window.is_open(gap_end - timedelta(seconds=1), [NY])  # 01:59:59 EST
    assert window.next_open(midnight, [NY]) == gap_end


def test_window_reopens_in_the_repeated_fall_back_hour() -> None:
    """On 2024-11-03 New York clocks go from 01:59:59 EDT back to 01:00 EST. A window
    00:00-01:30 closes at 01:30 EDT (05:30 UTC) and is open again from 01:00 EST (06:00 UTC)
    to 01:30 EST, by the wall clock."""
    window = CallingWindow.daily(range(7), 0, parse_clock("01:30"))
    closed = utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    reopened = utc(2024, 11, 3, 6)  # 01:00 EST
    assert not window.is_open(closed, [NY])
    assert window.is_open(reopened, [NY])
    assert window.next_open(closed, [NY]) == reopened


def test_range_ending_at_midnight() -> None:
    assert parse_clock("24:00") == SECONDS_PER_DAY
    monday_evening = CallingWindow.daily([0], parse_clock("20:00"), parse_clock("24:00"))
    # Monday 2024-06-17 in New York (EDT, -04).
    assert monday_evening.next_open(utc(2024, 6, 17, 16), [NY]) == utc(2024, 6, 18, 0)
    assert monday_evening.is_open(utc(2024, 6, 18, 3, 59, 59), [NY])  # Mon 23:59:59
    assert not monday_evening.is_open(utc(2024, 6, 18, 4), [NY])  # Tue 00:00
    # From Tuesday midnight, the next opening is the following Monday 20:00.
    assert monday_evening.next_open(utc(2024, 6, 18, 4), [NY]) == utc(2024, 6, 25, 0)


def test_always_open_window() -> None:
    always = CallingWindow.always()
    for instant in (utc(2024, 3, 10, 7), utc(2024, 11, 3, 6), utc(2030, 12, 31, 23, 59)):
        assert always.is_open(instant, ZONES)
        assert always.next_open(instant, ZONES) == instant


def test_two_zones_open_only_where_both_are_open() -> None:
    zones = (LA, NY)
    # Monday 2024-06-17: New York is EDT (-04), Los Angeles PDT (-07).
    assert NINE_TO_FIVE.next_open(at_local(NY, 2024, 6, 17, 8), zones) == at_local(
        NY, 2024, 6, 17, 12
    )
    assert not NINE_TO_FIVE.is_open(at_local(NY, 2024, 6, 17, 11, 59), zones)
    assert NINE_TO_FIVE.is_open(at_local(NY, 2024, 6, 17, 12), zones)
    assert NINE_TO_FIVE.is_open(at_local(NY, 2024, 6, 17, 16, 59), zones)
    assert not NINE_TO_FIVE.is_open(at_local(NY, 2024, 6, 17, 17), zones)
    # Across a whole week, open exactly when New York reads 12:00-17:00.
    probe = at_local(NY, 2024, 6, 17)
    while probe < at_local(NY, 2024, 6, 24):
        wall = local(probe, NY)
        assert NINE_TO_FIVE.is_open(probe, zones) is (12 <= wall.hour < 17), wall
        probe += QUARTER
    # After 17:00 New York time, the next opening is 12:00 New York time the next day.
    assert NINE_TO_FIVE.next_open(at_local(NY, 2024, 6, 17, 17), zones) == at_local(
        NY, 2024, 6, 18, 12
    )


@pytest.mark.parametrize("month", range(1, 13))
def test_zones_whose_windows_never_overlap_never_open(month: int) -> None:
    window = CallingWindow.daily(range(7), 9 * H, 10 * H)
    zones = ("Pacific/Auckland", NY)
    start = utc(2025, month, 1)
    assert window.next_open(start, zones) is None
    assert first_open_by_stepping(window, zones, start, start + timedelta(days=8), QUARTER) is None


def test_window_with_no_open_day_never_opens() -> None:
    never = CallingWindow(((),) * 7)
    instant = utc(2024, 3, 10, 5)
    assert not never.is_open(instant, [NY])
    assert never.next_open(instant, [NY]) is None


def test_zones_whose_windows_overlap_only_part_of_the_year() -> None:
    """Brisbane has no DST; Sydney does. 09:00-10:00 in both overlaps only while they share an
    offset (April-October), so from January the next opening is Sunday 2025-04-06 09:00 AEST,
    the first morning after Sydney falls back: the window does open, months later."""
    window = CallingWindow.daily(range(7), 9 * H, 10 * H)
    zones = ("Australia/Brisbane", "Australia/Sydney")
    first_shared_morning = utc(2025, 4, 5, 23)
    assert window.is_open(first_shared_morning, zones)
    assert window.next_open(utc(2025, 3, 30), zones) == first_shared_morning
    assert window.next_open(utc(2025, 1, 6), zones) == first_shared_morning


def test_weekdays_only() -> None:
    weekdays = CallingWindow.daily(range(5), 9 * H, 17 * H)
    saturday_noon = at_local(NY, 2024, 6, 15, 12)
    assert local(saturday_noon, NY).weekday() == 5
    assert not weekdays.is_open(saturday_noon, [NY])
    monday_nine = weekdays.next_open(saturday_noon, [NY])
    assert monday_nine == at_local(NY, 2024, 6, 17, 9)
    assert local(monday_nine, NY).weekday() == 0
    # Friday after closing also waits for Monday.
    assert weekdays.next_open(at_local(NY, 2024, 6, 14, 17), [NY]) == monday_nine
    assert weekdays.is_open(at_local(NY, 2024, 6, 14, 16, 59), [NY])


def test_weekday_is_the_contacts_not_utcs() -> None:
    weekdays = CallingWindow.daily(range(5), 9 * H, 17 * H)
    # Monday 09:30 in Sydney is still Sunday in UTC.
    monday_morning_sydney = utc(2024, 6, 16, 23, 30)
    assert monday_morning_sydney.weekday() == 6
    assert weekdays.is_open(monday_morning_sydney, ["Australia/Sydney"])
    assert not weekdays.is_open(monday_morning_sydney, [NY])  # Sunday 19:30 in New York


# --- properties ----------------------------------------------------------------------------------

uniform_instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31, 23, 59), timezones=st.just(UTC)
)


@st.composite
def instants_near_transitions(draw: st.DrawFn, zones: Sequence[str]) -> datetime:
    zone_name = draw(st.sampled_from([z for z in zones if transitions(z)] or list(DST_ZONES)))
    change = draw(st.sampled_from(transitions(zone_name)))
    return change + timedelta(seconds=draw(st.integers(-2 * 86400, 86400)))


def instants(zones: Sequence[str]) -> st.SearchStrategy[datetime]:
    return st.one_of(uniform_instants, instants_near_transitions(zones))


@st.composite
def office_ranges(draw: st.DrawFn) -> Ranges:
    """Up to two ranges a day between 06:00 and 22:00 (or ending at 24:00), on quarter hours:
    the kind of windows operators write, away from every DST change."""
    open_days = draw(st.sets(st.integers(0, 6), min_size=1))
    week = []
    for day in range(7):
        if day not in open_days:
            week.append(())
            continue
        cuts = sorted(draw(st.sets(st.integers(24, 88), min_size=2, max_size=4)))
        spans = [(a * 900, b * 900) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
        if draw(st.booleans()):
            spans[-1] = (spans[-1][0], SECONDS_PER_DAY)
        week.append(tuple(spans))
    return tuple(week)


@st.composite
def any_ranges(draw: st.DrawFn) -> Ranges:
    """One range a day, on any minute, every day: starts and ends may fall in DST gaps/folds."""
    cuts = sorted(draw(st.sets(st.integers(0, 24 * 60), min_size=2, max_size=2)))
    span = ((cuts[0] * 60, cuts[1] * 60),)
    return (span,) * 7


@st.composite
def zone_sets(draw: st.DrawFn) -> tuple[str, ...]:
    return tuple(sorted(draw(st.sets(st.sampled_from(ZONES), min_size=1, max_size=2))))


@settings(max_examples=250, deadline=None)
@given(data=st.data(), ranges=office_ranges(), zone_name=st.sampled_from(ZONES))
def test_next_open_is_the_first_open_instant_in_one_zone(
    data: st.DataObject, ranges: Ranges, zone_name: str
) -> None:
    instant = data.draw(instants([zone_name]))
    found = check_next_open(ranges, [zone_name], instant, QUARTER, timedelta(days=8))
    assert found is not None  # one zone and at least one open day: it always opens
    assert found - instant < timedelta(days=8)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), ranges=office_ranges(), zones=zone_sets())
def test_next_open_is_the_first_open_instant_in_every_zone(
    data: st.DataObject, ranges: Ranges, zones: tuple[str, ...]
) -> None:
    instant = data.draw(instants(zones))
    check_next_open(ranges, zones, instant, QUARTER, timedelta(days=8))


@settings(max_examples=250, deadline=None)
@given(data=st.data(), ranges=any_ranges(), zone_name=st.sampled_from(DST_ZONES))
def test_next_open_is_exact_for_windows_on_any_minute_near_dst_changes(
    data: st.DataObject, ranges: Ranges, zone_name: str
) -> None:
    instant = data.draw(instants_near_transitions([zone_name]))
    check_next_open(ranges, [zone_name], instant, MINUTE, timedelta(days=2))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), ranges=office_ranges(), zones=zone_sets())
def test_is_open_means_every_wall_clock_is_inside_a_range(
    data: st.DataObject, ranges: Ranges, zones: tuple[str, ...]
) -> None:
    instant = data.draw(instants(zones))
    expected = all(wall_clock_is_inside(ranges, instant, name) for name in zones)
    assert window_of(ranges).is_open(instant, zones) is expected


@settings(max_examples=200, deadline=None)
@given(data=st.data(), ranges=office_ranges(), zone_name=st.sampled_from(ZONES))
def test_next_open_is_stable(data: st.DataObject, ranges: Ranges, zone_name: str) -> None:
    """Asking again from the answer gives the answer; asking from any instant between gives the
    same answer too."""
    window = window_of(ranges)
    instant = data.draw(instants([zone_name]))
    found = window.next_open(instant, [zone_name])
    assert found is not None
    assert window.next_open(found, [zone_name]) == found
    fraction = data.draw(st.floats(0, 1))
    between = instant + (found - instant) * fraction
    assert window.next_open(between, [zone_name]) == found


# --- several ranges a day, closed dates ---------------------------------------------------------

SPLIT_DAY = CallingWindow(
    tuple((TimeRange(9 * 3600, 12 * 3600), TimeRange(13 * 3600, 20 * 3600)) for _ in range(7)),
    closed=frozenset({date(2026, 12, 25), date(2026, 12, 26)}),
)


def test_lunch_break_closes_and_reopens() -> None:
    noon = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 12:00 in New York
    assert not SPLIT_DAY.is_open(noon, [NY])
    assert SPLIT_DAY.next_open(noon, [NY]) == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_closed_dates_are_skipped_in_the_contacts_own_calendar() -> None:
    christmas_eve_evening = datetime(2026, 12, 25, 0, 30, tzinfo=UTC)  # 19:30 on the 24th in NY
    assert SPLIT_DAY.is_open(christmas_eve_evening, [NY])
    assert not SPLIT_DAY.is_open(christmas_eve_evening, ["Europe/London"])  # the 25th there
    after = datetime(2026, 12, 25, 1, 0, tzinfo=UTC)  # 20:00 on the 24th: closing time in NY
    assert SPLIT_DAY.next_open(after, [NY]) == datetime(2026, 12, 27, 14, 0, tzinfo=UTC)


@settings(max_examples=150, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 12, 20), max_value=datetime(2026, 12, 30)))
def test_never_open_on_a_closed_date(moment: datetime) -> None:
    instant = moment.replace(tzinfo=UTC)
    opened = SPLIT_DAY.next_open(instant, [NY])
    assert opened is not None
    assert opened.astimezone(ZoneInfo(NY)).date() not in SPLIT_DAY.closed
    assert SPLIT_DAY.is_open(opened, [NY])


def test_overlapping_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        CallingWindow(((TimeRange(0, 7200), TimeRange(3600, 9000)), (), (), (), (), (), ()))
