"""A tenant's own limits: a concurrency cap and start rates over all its campaigns.

Stored in the tenant's settings beside its number policy; unset values mean "only the
deployment's and the campaigns' limits apply"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialer.campaign_hooks import BudgetSpec, budget_document, budget_from_mapping, budget_of
from dialer.domain.budgets import Budget
from dialer.domain.model import Rate, ScopeLimits
from dialer.errors import InvalidInput, Problem
from dialer.ports import Store

LIMIT_KEYS = (
    "max_concurrency",
    "rate_per_second",
    "rate_per_minute",
    "rate_per_hour",
    "sms_per_second",  # the tenant's messages of each channel, per second
    "email_per_second",
)
_BOUNDS = {
    "sms_per_second": (1, 100_000),
    "email_per_second": (1, 100_000),
    "max_concurrency": (1, 1_000_000),
    "rate_per_second": (1, 100_000),
    "rate_per_minute": (1, 10_000_000),
    "rate_per_hour": (1, 100_000_000),
}


def limits_from(values: Mapping[str, Any]) -> ScopeLimits:
    rates = []
    if (per_second := values.get("rate_per_second")) is not None:
        rates.append(Rate.per_period(per_second, 1))
    if (per_minute := values.get("rate_per_minute")) is not None:
        rates.append(Rate.per_period(per_minute, 60))
    if (per_hour := values.get("rate_per_hour")) is not None:
        rates.append(Rate.per_period(per_hour, 3600))
    budget = values.get("budget")
    spec = BudgetSpec.model_validate(budget) if budget is not None else None
    return ScopeLimits(values.get("max_concurrency"), tuple(rates), budget_of(spec))


def channel_rates(values: Mapping[str, Any], channel: str) -> tuple[Rate, ...]:
    """The tenant's own send rate for one message channel (sms, email), if it has one."""
    per_second = values.get(f"{channel}_per_second")
    return () if per_second is None else (Rate.per_period(per_second, 1),)


def bounded_problems(
    changes: Mapping[str, Any], bounds: Mapping[str, tuple[int, int]]
) -> list[Problem]:
    """Each key not in ``bounds``, and each value (None aside) that is not a whole number
    within its key's bounds, as a problem named by the key."""
    problems = [Problem(key, "not a tenant setting") for key in changes if key not in bounds]
    for key, value in changes.items():
        if key not in bounds or value is None:
            continue
        low, high = bounds[key]
        if type(value) is not int or not low <= value <= high:
            problems.append(Problem(key, f"must be a whole number from {low} to {high}"))
    return problems


def limit_values(values: Mapping[str, Any]) -> dict[str, int | None]:
    """The tenant's own limits by name, None where it has none."""
    return {key: values.get(key) for key in LIMIT_KEYS}


async def current_limits(store: Store, tenant_id: int) -> dict[str, int | None]:
    async with store.unit() as uow:
        return limit_values(await uow.tenants.settings(tenant_id))


async def save_limits(
    store: Store, tenant: str, changes: Mapping[str, Any]
) -> dict[str, int | None]:
    """Change some of the tenant's limits (None removes one); all or nothing. The command
    line and the API both come here, so both keep the same bounds."""
    problems = bounded_problems(changes, _BOUNDS)
    if problems:
        raise InvalidInput(problems)
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        values = {**await uow.tenants.settings(tenant_id), **changes}
        values = {k: v for k, v in values.items() if v is not None}
        await uow.tenants.save_settings(tenant_id, values)
        await uow.commit()
    return limit_values(values)


async def set_limits(store: Store, tenant: str, changes: Mapping[str, Any]) -> ScopeLimits:
    """Change some of the tenant's limits (None removes one); all or nothing."""
    return limits_from(await save_limits(store, tenant, changes))


async def tenant_budget(store: Store, tenant_id: int) -> Budget | None:
    async with store.unit() as uow:
        return limits_from(await uow.tenants.settings(tenant_id)).budget


async def save_tenant_budget(store: Store, tenant_id: int, document: Any) -> Budget | None:
    """Set the tenant's budget over all its campaigns (None removes it). Dispatchers read it
    within a few seconds; what has been charged already counts against it."""
    budget = budget_from_mapping(document) if document is not None else None
    async with store.unit() as uow:
        values = dict(await uow.tenants.settings(tenant_id))
        values.pop("budget", None)
        if budget is not None:
            values["budget"] = budget_document(budget)
        await uow.tenants.save_settings(tenant_id, values)
        await uow.commit()
    return budget
