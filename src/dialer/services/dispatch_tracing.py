"""Tracing of the dispatcher's admissions: one span per lead admitted."""

from __future__ import annotations

from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.observability import tracing


def dispatch_span(campaign: Campaign, lead: Lead) -> tracing.Span:
    """The lead's admission, a child of the API request that queued it, if that was traced.
    Its traceparent is stored with the attempt: sending and webhooks continue from it."""
    attributes = {"dialer.campaign_id": campaign.id, "dialer.lead_id": lead.id}
    return tracing.start_span("dispatch lead", parent=lead.traceparent, attributes=attributes)


def end_dispatch_spans(spans: list[tracing.Span], attempts: list[CallAttempt]) -> None:
    for span, attempt in zip(spans, attempts, strict=True):  # start_attempts keeps the order
        span.set_attribute("dialer.attempt_id", attempt.id)
        span.end()
