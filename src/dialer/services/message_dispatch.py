"""The dispatcher's share of message steps: settle the steps that are over, claim the due
messages, send them beside the calls, and divert leads to their fallback step while the
voice provider cannot be used.

Message work runs in tasks of its own beside the call tick: settling and claiming in one,
sending in another. A message waiting for its sender's slot (1 per second on a long code), or
a backlog of thousands to settle, must not hold up the dispatch of calls (measured: with the
message work inside the tick, calls fell from 37.7/s to 0.8-2.5/s). One message tick and one
batch of sends are in flight at a time; the dispatcher's next tick starts the next."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from dialer.domain.model import Campaign
from dialer.errors import Unavailable
from dialer.services.context import Services
from dialer.services.message_events import settle_messages
from dialer.services.message_sending import MessageSender
from dialer.services.message_steps import divert_unreachable, falls_back_when_unreachable
from dialer.services.provider_guard import ProviderGuard

log = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 5.0
OpenZones = Callable[[Campaign, datetime], Awaitable[set[str]]]


class MessageSteps:
    def __init__(self, services: Services, guard: ProviderGuard | None) -> None:
        self.services = services
        self.guard = guard
        self.sender = MessageSender(services)
        self._ticking: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[int] | None = None
        self._idle_check = 0.0  # monotonic time of the last look without message campaigns

    async def run_once(self, running: Sequence[Campaign]) -> None:
        """Start a message tick unless one is under way; a bug in the last one is raised
        here, in the dispatcher's loop, as one in the call tick would be."""
        self._raise_bug()
        if self._ticking is not None and not self._ticking.done():
            return
        # Without a running campaign that has steps, only a replayed message of a completed
        # campaign can be due: looked for every few seconds, not on every tick of the calls.
        if not any(campaign.settings.steps for campaign in running):
            if time.monotonic() - self._idle_check < IDLE_CHECK_SECONDS:
                return
            self._idle_check = time.monotonic()
        self._ticking = asyncio.create_task(self._tick(), name="message tick")

    async def _tick(self) -> None:
        await settle_messages(self.services)
        if self._sending is not None and not self._sending.done():
            return  # the previous batch is still being sent
        outgoing = await self.sender.claim()
        if outgoing:
            self._sending = asyncio.create_task(self.sender.send_all(outgoing), name="messages")
            self._sending.add_done_callback(_log_failure)

    def _raise_bug(self) -> None:
        tick, self._ticking = self._ticking, None
        if tick is None or not tick.done():
            self._ticking = tick
            return
        failure = None if tick.cancelled() else tick.exception()
        if isinstance(failure, Unavailable):
            log.warning("message tick: %s", failure)  # waited out: the next tick tries again
        elif failure is not None:
            raise failure

    async def wait_sent(self) -> None:
        """Let the tick and the batch in flight finish (tests, and a dispatcher stopping)."""
        if self._ticking is not None:
            await asyncio.gather(self._ticking, return_exceptions=True)
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)

    async def divert(self, running: Sequence[Campaign], open_zones: OpenZones, limit: int) -> int:
        """Leads due now whose campaign falls back on ``unreachable`` take that step while
        the breaker is open (not while pacing merely holds calls back)."""
        if self.guard is None or not self.guard.is_open:
            return 0
        diverted = 0
        now = self.services.clock.now()
        for campaign in running:
            if falls_back_when_unreachable(campaign):
                keys = await open_zones(campaign, now)
                if keys:
                    diverted += await divert_unreachable(
                        self.services, campaign, sorted(keys), limit
                    )
        return diverted


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sending messages failed: %s", task.exception())
