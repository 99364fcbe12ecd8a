"""Warnings that repeat, logged at most once per reason per period.

A misconfigured provider (a wrong auth token, a stale callback URL) can send hundreds of
refused requests a second: one log line each would bury everything else. The first occurrence
of a reason is logged at once; further ones within the period are counted, and the next line
for that reason says how many were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Reason:
    logged_at: float
    suppressed: int = 0


@dataclass
class ThrottledWarnings:
    """Logs ``logger.warning`` lines, at most one per reason every ``period`` seconds."""

    logger: logging.Logger
    period: float = 10.0
    now: Callable[[], float] = time.monotonic  # real time: a log's pace is a person's
    _reasons: dict[str, _Reason] = field(default_factory=dict)

    def warn(self, reason: str, message: str, *args: object) -> bool:
        """Log ``message % args`` under ``reason`` unless that reason was logged within the
        period; True when the line was written."""
        now = self.now()
        seen = self._reasons.get(reason)
        if seen is not None and now - seen.logged_at < self.period:
            seen.suppressed += 1
            return False
        suppressed = seen.suppressed if seen is not None else 0
        self._reasons[reason] = _Reason(now)
        if suppressed:
            message += f" ({suppressed} more since the last such line, not logged)"
        self.logger.warning(message, *args, extra={"reason": reason}, stacklevel=2)
        return True
