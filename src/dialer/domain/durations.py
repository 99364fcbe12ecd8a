"""Durations as operators write them: whole seconds, or ``30s``, ``10m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
# Longer than any retry, pause or timeout an operator means, and far enough from datetime's
# limits that adding it to any date the engine handles cannot overflow.
MAX_DURATION_SECONDS = 365 * 86400
_MAX_DIGITS = len(str(MAX_DURATION_SECONDS))


def parse_duration(value: object) -> int:
    """Return the duration in whole seconds, or raise ValueError saying what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 10m, 2h or 1d, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return _within_a_year(value, value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return _within_a_year(_seconds(match.group(1), match.group(2)), value)
    raise ValueError(f"expected a duration like 30s, 10m, 2h or 1d, got {value!r}")


def _seconds(number: str, unit: str) -> int:
    digits = number.lstrip("0")
    if len(digits) > _MAX_DIGITS:  # too long to be a year in any unit: never convert it
        return MAX_DURATION_SECONDS + 1
    return int(digits or "0") * _UNITS[unit or "s"]


def _within_a_year(seconds: int, written: int | str) -> int:
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"a duration can be at most 365 days (365d), got {_shown(written)}")
    return seconds


def _shown(written: int | str) -> str:
    """What the operator wrote, cut short: a ten-thousand-digit number is not worth echoing."""
    if isinstance(written, int):
        return str(written) if written.bit_length() <= 128 else "a longer number"
    return repr(written) if len(written) <= 40 else repr(written[:40] + "...")


def format_duration(seconds: float) -> str:
    """The shortest exact unit form: 600 -> '10m', 90 -> '90s'."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
