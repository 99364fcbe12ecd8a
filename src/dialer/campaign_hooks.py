"""The campaign file's ``pre_dial`` and ``budget``.

The ``pre_dial`` hook: a request to the tenant's own system after admission (the
call's capacity, number lock and rate slot held) and before the provider's create.

    pre_dial:
      url: https://crm.example/pre-dial   # one of the tenant's webhook endpoints: its secret signs
      timeout: 2                          # seconds, at most 10
      on_error: skip                      # skip | proceed | retry

What the hook may answer is in ``dialer.domain.pre_dial``; docs/integrations.md has it all.

    budget:
      total: 500.00        # never spent beyond, in all (optional)
      per_day: 100.00      # nor in one day (optional; one of the two at least)
      currency: USD        # the rate cards' currency
      timezone: UTC        # where the day runs midnight to midnight

docs/economics.md explains how the worst case of each call is reserved.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from dialer.campaign_steps import Strict
from dialer.domain.budgets import Budget
from dialer.domain.pre_dial import MAX_TIMEOUT, OnError, PreDialHook
from dialer.domain.urls import check_http_url
from dialer.errors import InvalidInput, Problem
from dialer.rate_card_document import Currency


class PreDialSpec(Strict):
    url: Annotated[str, AfterValidator(check_http_url)]
    timeout: float = Field(default=2.0, gt=0, le=MAX_TIMEOUT)
    on_error: OnError = OnError.SKIP

    def hook(self) -> PreDialHook:
        return PreDialHook(self.url, self.timeout, self.on_error)


def pre_dial_hook(spec: PreDialSpec | None) -> PreDialHook | None:
    return spec.hook() if spec is not None else None


def pre_dial_document(hook: PreDialHook) -> dict[str, Any]:
    return {"url": hook.url, "timeout": hook.timeout, "on_error": hook.on_error.value}


BudgetAmount = Annotated[
    Decimal, Field(gt=0, le=1_000_000_000, decimal_places=6, allow_inf_nan=False)
]


class BudgetSpec(Strict):
    total: BudgetAmount | None = None
    per_day: BudgetAmount | None = None
    currency: Currency
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone: {value!r}") from None
        return value

    @model_validator(mode="after")
    def _a_limit(self) -> BudgetSpec:
        if self.total is None and self.per_day is None:
            raise ValueError("give total, per_day or both")
        if self.total is not None and self.per_day is not None and self.per_day > self.total:
            raise ValueError("per_day cannot be more than total")
        return self

    def budget(self) -> Budget:
        return Budget(self.currency, self.total, self.per_day, self.timezone)


def budget_of(spec: BudgetSpec | None) -> Budget | None:
    return spec.budget() if spec is not None else None


def budget_document(budget: Budget) -> dict[str, Any]:
    document: dict[str, Any] = {"currency": budget.currency, "timezone": budget.timezone}
    for name in ("total", "per_day"):
        if (amount := getattr(budget, name)) is not None:
            document[name] = format(amount.normalize(), "f")
    return document


def budget_from_mapping(data: Any, where: str = "budget") -> Budget:
    """A budget document on its own (a tenant's); InvalidInput naming each bad key."""
    try:
        return BudgetSpec.model_validate(data).budget()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            location = ".".join([where, *(str(part) for part in err["loc"])])
            problems.append(Problem(location, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(problems) from exc
