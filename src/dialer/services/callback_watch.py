"""Calls the provider accepted whose status callbacks never arrive.

When the provider cannot reach our webhook URL (DIALER_PUBLIC_BASE_URL points at nothing, or
nothing listens there: a forgotten DIALER_LISTEN), calls are created and then nothing is
heard of them: without a word, a run would wait for housekeeping's quiet period or for the
leases. The watch notices a call accepted ``silence`` seconds ago with no status callback
heard by this process since and looks it up at the provider. Silence alone proves nothing:
only the answer and the ending are asked of the provider (DIALER_CALLBACK_EVENTS=lean), so a
call may ring for its whole ring timeout without a word. A call the provider reports ended
that we still have not heard of a pass later (so that a callback in flight during the first
lookup has had its chance) does: the watch then says so (a WARNING, and a warning the live
view shows) and settles such calls from the provider's record while the silence lasts.

It counts only the callbacks this process's webhook route stored (``CallbackPulse``): it is
for a process that serves its own webhooks, as ``dialer run`` does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dialer.domain.model import CallAttempt
from dialer.services.context import Services
from dialer.services.housekeeping import settle_with, settlement

log = logging.getLogger(__name__)

DEFAULT_SILENCE = 30.0  # seconds: callbacks normally follow a create within a few seconds
SILENCE_WARNING = (
    "no status callback in {seconds:g} s: is DIALER_PUBLIC_BASE_URL reachable by the provider "
    "and served by DIALER_LISTEN?"
)


@dataclass
class CallbackPulse:
    """When this process's webhook route last stored a provider's status callback."""

    last_heard: datetime | None = None

    def heard(self, at: datetime) -> None:
        if self.last_heard is None or at > self.last_heard:
            self.last_heard = at


@dataclass
class CallbackWatch:
    services: Services
    pulse: CallbackPulse
    campaign_id: int
    silence: float = DEFAULT_SILENCE  # seconds of the services' clock
    batch: int = 200  # calls looked up per pass
    warning: str | None = None  # set while ended calls go unheard
    _raised_at: datetime = field(default=datetime.min.replace(tzinfo=UTC))
    _found_ended: set[int] = field(default_factory=set)  # at the last pass, still unheard

    async def run_once(self) -> int:
        """Update the warning and settle the unheard calls that have ended; returns how
        many were settled."""
        now = self.services.clock.now()
        settled, found_ended = 0, set()
        for attempt in await self._unheard_calls(now):
            event = await settlement(self.services, attempt)
            if event is None:
                continue
            if attempt.id in self._found_ended:  # ended a pass ago, and still not heard of
                settled += await settle_with(self.services, attempt, event)
            else:
                found_ended.add(attempt.id)
        self._found_ended = found_ended
        self._set_warning(settled > 0, now)
        if settled:
            log.info("%d calls never heard from were settled from the provider", settled)
        return settled

    async def _unheard_calls(self, now: datetime) -> list[CallAttempt]:
        # Progress renews a lease to now + lease_ttl: a lease ending before this horizon
        # belongs to a call without news for ``silence`` seconds (housekeeping's query).
        horizon = now + timedelta(seconds=self.services.limits.lease_ttl - self.silence)
        async with self.services.store.unit() as uow:
            quiet = await uow.attempts.expired(horizon, self.batch)
        return [attempt for attempt in quiet if self._unheard(attempt, now)]

    def _unheard(self, attempt: CallAttempt, now: datetime) -> bool:
        """Accepted by the provider ``silence`` seconds ago or more, and no callback at all
        (of any call) heard since: a long conversation after its answer callback is not."""
        accepted = attempt.initiated_at
        if attempt.campaign_id != self.campaign_id or attempt.provider_call_id is None:
            return False
        if accepted is None or now - accepted < timedelta(seconds=self.silence):
            return False
        heard = self.pulse.last_heard
        return heard is None or heard < accepted

    def _set_warning(self, ended_unheard: bool, now: datetime) -> None:
        """Raised when the provider ended a call we never heard of; lowered only once a
        callback is heard after that, not when the lookups have merely settled the calls."""
        if self.warning is None:
            if ended_unheard:
                self.warning = SILENCE_WARNING.format(seconds=self.silence)
                self._raised_at = now
                log.warning(self.warning)
            return
        heard = self.pulse.last_heard
        if heard is not None and heard >= self._raised_at:
            self.warning = None
            log.info("status callbacks are arriving again")
