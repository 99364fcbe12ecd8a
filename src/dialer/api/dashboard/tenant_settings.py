"""The dashboard's tenant page: the tenant's own cap and start rates, its number policy, and
how many addresses are on its per-channel opt-out lists.

Any signed-in key reads them; an admin key changes them through a form (CSRF token), with the
same service functions, and so the same bounds, as the REST API and the command line."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dialer.api.dashboard.sessions import Notice
from dialer.api.dashboard.web import (
    PREFIX,
    PostedForm,
    SignedIn,
    Visitor,
    check_form,
    dashboard_of,
    notify,
    redirect,
    render,
    signed_in,
)
from dialer.domain.window import format_ranges
from dialer.errors import InvalidInput, Problem
from dialer.services import opt_outs, safety, tenants
from dialer.services.access import KeyScope
from dialer.services.safety import CALLING_HOURS

router = APIRouter(prefix=PREFIX, include_in_schema=False)

LIMIT_FIELDS = (
    ("max_concurrency", "Calls live at once, over all campaigns"),
    ("rate_per_second", "Call starts per second"),
    ("rate_per_minute", "Call starts per minute"),
    ("rate_per_hour", "Call starts per hour"),
    ("sms_per_second", "SMS sent per second"),
    ("email_per_second", "Emails sent per second"),
)
POLICY_FIELDS = (
    ("number_max_attempts", "Attempts to one number per window, over all campaigns"),
    ("number_window_seconds", "That rolling window, in seconds"),
    ("conversation_cooldown_seconds", "Seconds of quiet after a conversation"),
)


def whole_numbers(form: FormData, names: tuple[tuple[str, str], ...]) -> dict[str, int | None]:
    """The form's fields as whole numbers; an empty field is None (no value of the tenant's
    own). Anything else is InvalidInput naming the field."""
    values: dict[str, int | None] = {}
    problems = []
    for name, _ in names:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            values[name] = None
        elif text.isascii() and text.isdigit() and len(text) <= 18:
            values[name] = int(text)
        else:
            problems.append(Problem(name, "must be a whole number"))
    if problems:
        raise InvalidInput(problems)
    return values


def _text(form: FormData, name: str) -> str | None:
    """A text field, stripped; empty is None (the deployment's default)."""
    raw = form.get(name)
    text = raw.strip() if isinstance(raw, str) else ""
    return text or None


async def _render_tenant(
    request: Request, visitor: Visitor, status: int = 200, error: str = ""
) -> Response:
    runtime = dashboard_of(request).runtime
    tenant_id = visitor.principal.tenant_id
    limits = await tenants.current_limits(runtime.store, tenant_id)
    default = runtime.services.limits.number_policy
    policy = await safety.current_policy(runtime.store, tenant_id, default)
    return await render(
        request,
        "tenant.html",
        visitor,
        status,
        limits=limits,
        limit_fields=LIMIT_FIELDS,
        policy={
            "number_max_attempts": policy.max_attempts,
            "number_window_seconds": policy.window,
            "conversation_cooldown_seconds": policy.cooldown,
        },
        calling_hours=format_ranges(policy.calling_hours),
        policy_fields=POLICY_FIELDS,
        opt_outs=[
            (c.value, n) for c, n in (await opt_outs.counts(runtime.store, tenant_id)).items()
        ],
        can_change=visitor.principal.scope.includes(KeyScope.ADMIN),
        error=error,
    )


@router.get("/tenant")
async def tenant_page(request: Request) -> Response:
    return await _render_tenant(request, await signed_in(request))


async def _change(request: Request, visitor: Visitor, what: str, values: dict[str, Any]) -> None:
    runtime = dashboard_of(request).runtime
    tenant = visitor.principal.tenant
    if what == "limits":
        await tenants.save_limits(runtime.store, tenant, values)
    else:
        await safety.set_policy(
            runtime.store, tenant, values, runtime.services.limits.number_policy
        )


async def _post(request: Request, visitor: Visitor, form: FormData, what: str) -> Response:
    check_form(request, visitor, form, needs=KeyScope.ADMIN)
    fields = LIMIT_FIELDS if what == "limits" else POLICY_FIELDS
    try:
        values: dict[str, Any] = whole_numbers(form, fields)
        if what == "policy":
            values[CALLING_HOURS] = _text(form, CALLING_HOURS)
        await _change(request, visitor, what, values)
    except InvalidInput as exc:
        return await _render_tenant(request, visitor, 422, str(exc))
    await notify(request, visitor, Notice("ok", f"The tenant's {what} are saved."))
    return redirect(f"{PREFIX}/tenant")


@router.post("/tenant/limits")
async def change_limits(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Replace the tenant's own cap and rates; an empty field removes one."""
    return await _post(request, visitor, form, "limits")


@router.post("/tenant/policy")
async def change_policy(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Replace the tenant's number policy; an empty field takes the deployment's default."""
    return await _post(request, visitor, form, "policy")
