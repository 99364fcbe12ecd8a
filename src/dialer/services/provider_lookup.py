"""What the provider knows of an attempt's call: asked by the reaper, housekeeping and the
callback watch when our own record has gone quiet."""

from __future__ import annotations

from datetime import timedelta

from dialer.domain.model import CallAttempt
from dialer.domain.statuses import CallProgress
from dialer.ports import CallRequest, ProviderEvent
from dialer.services.context import Services

# The progress a provider reports for a call that is over.
ENDING_PROGRESS = frozenset(
    {
        CallProgress.COMPLETED,
        CallProgress.BUSY,
        CallProgress.NO_ANSWER,
        CallProgress.FAILED,
        CallProgress.CANCELED,
    }
)


async def ask_provider(services: Services, attempt: CallAttempt) -> ProviderEvent | None:
    """The provider's latest word on the attempt's call, found by its id or, when the create
    answer was lost, by number and time; None when the provider knows no such call. Raises
    ``ProviderError`` when the provider cannot be asked."""
    telephony = services.telephony
    call_id = attempt.provider_call_id
    if call_id is None:
        request = CallRequest(attempt.id, attempt.phone, attempt.caller_id, "", 0, 0)
        since = (attempt.created_at or services.clock.now()) - timedelta(minutes=1)
        call_id = await telephony.find_call(request, since)
    return None if call_id is None else await telephony.fetch_call(call_id)
