"""/v1/limits and /v1/policy: the tenant's own cap and start rates over all its campaigns, and
its number policy (frequency cap and cool-down). Any key reads; an admin key writes.

The bounds are the services' (the command line's ``dialer limits`` and ``dialer policy`` use
the same functions); here the body is only shaped: whole numbers, known names."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from dialer.api.auth import Admin, RuntimeDep, Viewer
from dialer.api.problems import PROBLEM_RESPONSES
from dialer.bootstrap import Runtime
from dialer.domain.safety import NumberPolicy
from dialer.domain.window import format_ranges
from dialer.errors import InvalidInput, Problem
from dialer.services import safety, tenants

router = APIRouter(tags=["tenant"], responses=PROBLEM_RESPONSES)

LIMITS_DOC = (
    "PUT replaces the tenant's own limits: a field left out or null is no limit of its own "
    "(the deployment's and each campaign's still apply). 422 naming the field when a value "
    "is out of bounds: max_concurrency 1 to 1,000,000; rate_per_second 1 to 100,000; "
    "rate_per_minute 1 to 10,000,000; rate_per_hour 1 to 100,000,000."
)
POLICY_DOC = (
    "PUT replaces the tenant's number policy: a field left out or null takes the "
    "deployment's default (DIALER_NUMBER_MAX_ATTEMPTS, ...). Bounds: number_max_attempts "
    "1 to 1,000; number_window_seconds 1 to 2,592,000 (30 days); "
    "conversation_cooldown_seconds 0 to 31,536,000 (365 days). calling_hours: the "
    "contact-local hours, every day, that calls placed through POST /v1/calls may use "
    "(their default window, and the bounds of a window a request names), as ranges like "
    "08:00-21:00 or 09:00-12:00;13:00-20:00; default 08:00-21:00."
)


class LimitsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_concurrency: StrictInt | None = Field(
        default=None, description="Calls live at once over all the tenant's campaigns"
    )
    rate_per_second: StrictInt | None = Field(default=None, description="Call starts a second")
    rate_per_minute: StrictInt | None = Field(default=None, description="Call starts a minute")
    rate_per_hour: StrictInt | None = Field(default=None, description="Call starts an hour")
    sms_per_second: StrictInt | None = Field(
        default=None, description="SMS sent a second over all the tenant's campaigns"
    )
    email_per_second: StrictInt | None = Field(
        default=None, description="Emails sent a second over all the tenant's campaigns"
    )


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number_max_attempts: StrictInt | None = Field(
        default=None, description="Attempts to one number per window, over all campaigns"
    )
    number_window_seconds: StrictInt | None = Field(
        default=None, description="That rolling window, in seconds"
    )
    conversation_cooldown_seconds: StrictInt | None = Field(
        default=None, description="Seconds no campaign calls a number after a conversation"
    )
    calling_hours: StrictStr | None = Field(
        default=None,
        description="Contact-local hours, every day, for calls placed through POST /v1/calls",
        examples=["08:00-21:00"],
    )


def _in_body(exc: InvalidInput) -> InvalidInput:
    """The services name a setting; the answer names it where the client sent it."""
    return InvalidInput([Problem(f"body.{p.location}", p.message) for p in exc.problems])


def _policy_out(policy: NumberPolicy) -> PolicyBody:
    return PolicyBody(
        number_max_attempts=policy.max_attempts,
        number_window_seconds=policy.window,
        conversation_cooldown_seconds=policy.cooldown,
        calling_hours=format_ranges(policy.calling_hours),
    )


def _default_policy(runtime: Runtime) -> NumberPolicy:
    return runtime.services.limits.number_policy


@router.get("/v1/limits", response_model=LimitsBody)
async def get_limits(caller: Viewer, runtime: RuntimeDep) -> LimitsBody:
    """The tenant's own cap and start rates; null: none of its own."""
    return LimitsBody(**await tenants.current_limits(runtime.store, caller.tenant_id))


@router.put("/v1/limits", response_model=LimitsBody, description=LIMITS_DOC)
async def put_limits(caller: Admin, runtime: RuntimeDep, body: LimitsBody) -> LimitsBody:
    """Set the tenant's own cap and start rates."""
    changes: dict[str, Any] = body.model_dump()
    try:
        values = await tenants.save_limits(runtime.store, caller.tenant, changes)
    except InvalidInput as exc:
        raise _in_body(exc) from None
    return LimitsBody(**values)


@router.get("/v1/policy", response_model=PolicyBody)
async def get_policy(caller: Viewer, runtime: RuntimeDep) -> PolicyBody:
    """The number policy in force for the tenant: its own values over the deployment's."""
    policy = await safety.current_policy(runtime.store, caller.tenant_id, _default_policy(runtime))
    return _policy_out(policy)


@router.put("/v1/policy", response_model=PolicyBody, description=POLICY_DOC)
async def put_policy(caller: Admin, runtime: RuntimeDep, body: PolicyBody) -> PolicyBody:
    """Set the tenant's number policy."""
    try:
        policy = await safety.set_policy(
            runtime.store, caller.tenant, body.model_dump(), _default_policy(runtime)
        )
    except InvalidInput as exc:
        raise _in_body(exc) from None
    return _policy_out(policy)
