"""Inputs of the capacity model, as its tests and the planner's build them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dialer.domain.capacity.inputs import CallTimes, OutcomeMix, PlanInput, ZoneShare, cap
from dialer.domain.model import CampaignSettings

MONDAY_9_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALWAYS_ANSWERED = OutcomeMix(answered=1.0, no_answer=0.0, busy=0.0, failed=0.0)
MIX = OutcomeMix(answered=0.6, no_answer=0.25, busy=0.1, failed=0.05)


def campaign(**changes: Any) -> CampaignSettings:
    base: dict[str, Any] = {
        "name": "plan",
        "caller_id": "+14155550100",
        "max_concurrency": 10,
        "ring_timeout": 30,
        "max_call_duration": 14400,
        "ramp_up": 0,
    }
    return CampaignSettings(**{**base, **changes})


def plan_input(**changes: Any) -> PlanInput:
    base: dict[str, Any] = {
        "campaign": campaign(),
        "contacts": 1000,
        "mix": ALWAYS_ANSWERED,
        "times": CallTimes(talk=60, ring=0, setup=0),
        "limits": (cap("global cap", 10000),),
        "zones": (ZoneShare(("UTC",), 1.0),),
        "start": MONDAY_9_UTC,
    }
    return PlanInput(**{**base, **changes})
