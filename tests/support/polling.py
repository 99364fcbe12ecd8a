"""Waiting for a condition, bounded in time: what tests do instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(
    check: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    *,
    every: float = 0.1,
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (or at once if ``alive`` raises)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(every)
