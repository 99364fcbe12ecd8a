"""An admitted call as the executor takes it: its provider request and what its send needs."""

from __future__ import annotations

from dialer.domain.model import CallAttempt, Campaign
from dialer.ports import Origination, Scope
from dialer.ports.telephony import CallRequest
from dialer.services.context import Services


def origination(
    services: Services, campaign: Campaign, attempt: CallAttempt, scope: Scope
) -> Origination:
    """What the executor needs to send one admitted call."""
    settings = campaign.settings
    detection = settings.machine_detection
    callback = (
        f"{services.webhook_base}/webhooks/{services.telephony.name}/status"
        f"?attempt={attempt.id}&campaign={campaign.id}"
    )
    request = CallRequest(
        attempt_id=attempt.id,
        to=attempt.phone,
        from_=attempt.caller_id,
        status_callback_url=callback,
        ring_timeout=settings.ring_timeout,
        time_limit=settings.max_call_duration,
        answer_url=settings.answer_url,
        machine_detection=detection.mode.value if detection else None,
    )
    return Origination(
        attempt.id,
        attempt.lead_id,
        campaign.id,
        campaign.tenant_id,
        attempt.lease_id,
        request,
        attempt.traceparent,
        scope,  # its send is spaced on the rates it was admitted under
        settings.pre_dial,
    )
