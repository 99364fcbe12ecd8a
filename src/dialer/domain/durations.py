"""Durations as operators write them: whole seconds, or ``30s``, ``10m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def parse_duration(value: object) -> int:
    """Return the duration in whole seconds, or raise ValueError saying what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 10m, 2h or 1d, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return value
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration like 30s, 10m, 2h or 1d, got {value!r}")


def format_duration(seconds: float) -> str:
    """The shortest exact unit form: 600 -> '10m', 90 -> '90s'."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
