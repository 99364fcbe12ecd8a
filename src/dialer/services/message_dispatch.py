"""The dispatcher's share of message steps: settle the steps that are over, claim the due
messages, send them beside the calls, and divert leads to their fallback step while the
voice provider cannot be used.

Sends run in a task of their own: a message waiting for its sender's slot (1 per second on a
long code) must not hold up the dispatch of calls. One batch is in flight at a time; the next
tick claims the next."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from dialer.domain.model import Campaign
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
        self._sending: asyncio.Task[int] | None = None
        self._idle_check = 0.0  # monotonic time of the last look without message campaigns

    async def run_once(self, running: Sequence[Campaign]) -> None:
        # Without a running campaign that has steps, only a replayed message of a completed
        # campaign can be due: looked for every few seconds, not on every tick of the calls.
        if not any(campaign.settings.steps for campaign in running):
            if time.monotonic() - self._idle_check < IDLE_CHECK_SECONDS:
                return
            self._idle_check = time.monotonic()
        await settle_messages(self.services)
        if self._sending is not None and not self._sending.done():
            return  # the previous batch is still being sent
        outgoing = await self.sender.claim()
        if outgoing:
            self._sending = asyncio.create_task(self.sender.send_all(outgoing), name="messages")
            self._sending.add_done_callback(_log_failure)

    async def wait_sent(self) -> None:
        """Let the batch in flight finish (tests, and a dispatcher stopping)."""
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
