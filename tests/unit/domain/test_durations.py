"""Durations as operators write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.durations import MAX_DURATION_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (45, 45),
        (86400, 86400),
        ("45", 45),
        ("0", 0),
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        (" 5m ", 300),
        ("90m", 5400),
        ("007s", 7),
    ],
)
def test_parse_duration(value: object, seconds: int) -> None:
    parsed = parse_duration(value)
    assert parsed == seconds
    assert type(parsed) is int


@pytest.mark.parametrize(
    "value",
    ["-1", "1w", "abc", "", "   ", "1.5", "1.5m", "m", "10 minutes", "1h30m", "5mm", "0x10"],
)
def test_parse_duration_rejects_bad_text(value: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s, 10m, 2h or 1d") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [True, False, 1.5, 10.0, None, [10], {"m": 10}])
def test_parse_duration_rejects_other_types(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [-1, -3600])
def test_parse_duration_rejects_negative_seconds(value: int) -> None:
    with pytest.raises(ValueError, match=f"cannot be negative, got {value}"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "90s"),
        (600, "10m"),
        (3600, "1h"),
        (5400, "90m"),
        (86400, "1d"),
        (90000, "25h"),
        (172800, "2d"),
        (86401, "86401s"),
    ],
)
def test_format_duration_uses_the_largest_exact_unit(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=300)
@given(st.integers(0, MAX_DURATION_SECONDS))
def test_format_then_parse_round_trips(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    number, unit = int(text[:-1]), text[-1]
    # The shortest form: no larger unit would also be exact.
    larger = {"s": 60, "m": 3600, "h": 86400, "d": None}[unit]
    if seconds and larger is not None:
        size = {"s": 1, "m": 60, "h": 3600}[unit]
        assert (number * size) % larger != 0


@settings(max_examples=300)
@given(st.integers(0, 10**6), st.sampled_from(["", "s", "m", "h", "d"]), st.booleans())
def test_parse_any_written_duration(number: int, unit: str, padded: bool) -> None:
    text = f"{number}{unit}"
    if padded:
        text = f"  {text} "
    size = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if number * size > MAX_DURATION_SECONDS:
        with pytest.raises(ValueError, match="at most 365 days"):
            parse_duration(text)
    else:
        assert parse_duration(text) == number * size


@pytest.mark.parametrize("value", ["3650000d", "366d", 366 * 86400, "8785h", "31536001s"])
def test_parse_duration_refuses_more_than_a_year(value: object) -> None:
    with pytest.raises(ValueError, match="at most 365 days"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["365d", 365 * 86400, "8760h", "525600m"])
def test_parse_duration_accepts_a_year(value: object) -> None:
    assert parse_duration(value) == 365 * 86400


@pytest.mark.parametrize("value", ["9" * 5000 + "d", 2**20000], ids=["text", "integer"])
def test_parse_duration_refuses_a_huge_number_without_echoing_it(value: object) -> None:
    with pytest.raises(ValueError, match="at most 365 days") as info:
        parse_duration(value)
    assert len(str(info.value)) < 200
