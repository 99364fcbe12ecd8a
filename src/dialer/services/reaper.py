"""The reaper: settles attempts whose lease ran out without a final word from the provider.

A lease outlives the longest possible call (ring timeout + time limit + margin), so an attempt
still live at expiry lost its callbacks (or its create answer). It is resolved from the
provider when the provider knows the call; otherwise it ends UNKNOWN and the retry policy's
``unknown`` rule decides, after its safety delay. It is never re-dialled blindly.

With inline execution (no broker, hence no housekeeping), the reaper also withdraws attempts
left unsent for ``unsent_grace`` seconds (the process that admitted them stopped before
sending): they would otherwise wait for their lease, counted against the dispatchers'
backpressure limit all that time.
"""

from __future__ import annotations

import logging

from dialer.domain.model import CallAttempt
from dialer.domain.statuses import AttemptStatus
from dialer.errors import ProviderError
from dialer.ports import ProviderEvent
from dialer.services.calls import end_attempt
from dialer.services.context import Services
from dialer.services.housekeeping import withdraw_unsent
from dialer.services.provider_events import apply_event
from dialer.services.provider_lookup import ENDING_PROGRESS, ask_provider

log = logging.getLogger(__name__)


class Reaper:
    def __init__(
        self, services: Services, batch_size: int = 200, unsent_grace: float | None = None
    ) -> None:
        self.services = services
        self.batch_size = batch_size
        self.unsent_grace = unsent_grace  # None: housekeeping withdraws unsent attempts

    async def run_once(self) -> int:
        """Resolve one batch of expired attempts; return how many were settled."""
        await self._withdraw_unsent()
        async with self.services.store.unit() as uow:
            expired = await uow.attempts.expired(self.services.clock.now(), self.batch_size)
        settled = 0
        for attempt in expired:
            try:
                settled += await self._resolve(attempt)
            except Exception:
                # One attempt that cannot be settled now must not stop the others: it stays
                # expired and is tried again on the next pass.
                log.exception("attempt %s could not be settled; retried next pass", attempt.id)
        return settled

    async def _withdraw_unsent(self) -> None:
        if self.unsent_grace is None:
            return
        await withdraw_unsent(self.services, self.unsent_grace, self.batch_size)

    async def _resolve(self, attempt: CallAttempt) -> int:
        event = await self._ask_provider(attempt)
        if event is not None and event.progress in ENDING_PROGRESS:
            await apply_event(self.services, attempt.id, event)
            return 1
        if event is not None:
            # Still live past the time limit: the provider did not enforce it. End it.
            await self._hang_up(event.provider_call_id)
        ended = await end_attempt(
            self.services, attempt.id, AttemptStatus.UNKNOWN, "lease expired; outcome unknown"
        )
        if ended:
            log.warning("attempt %s ended UNKNOWN after its lease expired", attempt.id)
        return int(ended)

    async def _ask_provider(self, attempt: CallAttempt) -> ProviderEvent | None:
        try:
            return await ask_provider(self.services, attempt)
        except ProviderError as exc:
            log.info("attempt %s: provider lookup failed (%s)", attempt.id, exc)
            return None

    async def _hang_up(self, call_id: str) -> None:
        try:
            await self.services.telephony.hang_up(call_id)
        except ProviderError as exc:
            log.warning("could not hang up overdue call %s: %s", call_id, exc)
