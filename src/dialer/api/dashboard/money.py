"""Money on the dashboard: amounts as text, and a budget against what it has spent.

Amounts stay ``Decimal`` from the store to the page (never a float); they are rounded only to
be shown, to 2-4 decimals. A budget's spend is read from the store (what was charged); what
live calls hold is read from the budget ledger when it has the account open. The ledger's own
spend may be above the store's (a call it could not price counts at its worst case): what is
*left* is worked out from the ledger's, as the dispatcher does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, card_in_force, from_micros
from dialer.errors import DialerError
from dialer.ports.budget import Balance
from dialer.services import costs
from dialer.services.context import Services

CENT = Decimal("0.01")
SHOWN = Decimal("0.0001")  # the finest digit shown, unless an amount is smaller still
PERCENT = Decimal("0.1")
NEARLY_SPENT = Decimal("0.95")  # without a rate card: spent when 95 % of the limit is gone
NONE_YET = "nothing charged yet"


def amount_text(amount: Decimal, currency: str) -> str:
    """``USD 1,234.50``, ``USD 0.0123``: 2 to 4 decimals (half up); an amount below a
    ten-thousandth keeps its own digits rather than reading 0."""
    shown = amount.quantize(SHOWN, rounding=ROUND_HALF_UP)
    if shown == 0 and amount != 0:
        shown = amount
    trimmed = shown.normalize()
    exponent = trimmed.as_tuple().exponent
    if not isinstance(exponent, int) or exponent > -2:
        trimmed = shown.quantize(CENT)
    return f"{currency} {trimmed:,}"


def amounts_text(amounts: Mapping[str, Decimal], empty: str = NONE_YET) -> str:
    """One amount per currency, ``USD 12.38 · EUR 1.20``."""
    parts = [amount_text(amount, currency) for currency, amount in sorted(amounts.items())]
    return " · ".join(parts) or empty


def share_text(part: Decimal, whole: Decimal) -> str:
    """``part`` as a percentage of ``whole``, to a tenth."""
    if whole <= 0:
        return "—"
    return f"{(part * 100 / whole).quantize(PERCENT, rounding=ROUND_HALF_UP)} %"


@dataclass(frozen=True)
class Account:
    """One limit of a budget (its total, or its current day) and what is set against it."""

    limit: Decimal
    spent: Decimal  # charged, by the store
    counted: Decimal  # spent as the ledger counts it (the store's when it has no account)
    reserved: Decimal | None  # held by live calls; None: the ledger has no account open

    @property
    def left(self) -> Decimal:
        return self.limit - self.counted - (self.reserved or Decimal(0))

    def used_up(self, worst: Decimal | None) -> bool:
        """Spent: even with every live call's reservation back, one more call (its worst
        case ``worst``) would not fit. Unknown ``worst``: 95 % of the limit is spent."""
        if worst is None:
            return self.spent >= self.limit * NEARLY_SPENT
        return self.limit - self.counted < worst


@dataclass(frozen=True)
class BudgetFigures:
    budget: Budget
    day: date  # the budget's current day, in its time zone
    next_day: datetime  # when that day ends (UTC)
    total: Account | None
    today: Account | None


async def budget_figures(
    services: Services,
    budget: Budget,
    key: str,
    now: datetime,
    *,
    campaign_id: int | None = None,
    tenant_id: int | None = None,
) -> BudgetFigures:
    """``budget``'s total and day against the spend of its campaign (or tenant); ``key`` is
    its ledger account (``c:12``, ``t:3``; the day's adds ``:YYYY-MM-DD``)."""
    day = budget.day_of(now)
    day_key = f"{key}:{day.isoformat()}"
    async with services.store.unit() as uow:
        spent = await uow.costs.spent(budget.currency, campaign_id=campaign_id, tenant_id=tenant_id)
        spent_today = await uow.costs.spent(
            budget.currency,
            campaign_id=campaign_id,
            tenant_id=tenant_id,
            since=budget.day_starts(now),
        )
    balances = await _balances(services, [key, day_key])
    return BudgetFigures(
        budget,
        day,
        budget.next_day(now),
        _account(budget.total, spent, balances.get(key)),
        _account(budget.per_day, spent_today, balances.get(day_key)),
    )


async def _balances(services: Services, keys: list[str]) -> dict[str, Balance]:
    """The open accounts among ``keys``; none when there is no ledger or it cannot be read
    now (the store's spend is shown then)."""
    if services.budgets is None:
        return {}
    try:
        return await services.budgets.balances(keys)
    except DialerError:
        return {}


def _account(limit: Decimal | None, spent: int, balance: Balance | None) -> Account | None:
    if limit is None:
        return None
    charged = from_micros(spent)
    if balance is None:
        return Account(limit, charged, charged, None)
    counted = max(charged, from_micros(balance.spent))
    return Account(limit, charged, counted, from_micros(balance.reserved))


async def cheapest_call(
    services: Services, currency: str, durations: Iterable[int], now: datetime
) -> Decimal | None:
    """The least one more call can reserve: its worst case (cut off at ``durations``) at the
    cheapest destination of the call rate card in force. None: no card in ``currency``
    (the dispatcher makes no call under the budget then)."""
    found = await costs.cards(services.store, services.telephony.name, CostChannel.CALL)
    card = card_in_force(found, now)
    longest = list(durations)
    if card is None or card.currency != currency or not card.prices or not longest:
        return None
    return min(price.call(seconds) for price in card.prices for seconds in longest)


def budget_view(figures: BudgetFigures, prefix: str) -> dict[str, Any]:
    """The budget's rows for a page, and the same figures as live text fields named
    ``{prefix}-total-spent``, ``{prefix}-today-left``... and meters."""
    budget = figures.budget
    rows: list[dict[str, str]] = []
    text: dict[str, str] = {}
    meters: dict[str, dict[str, str]] = {}
    for name, label, account in (
        ("total", "In all", figures.total),
        ("today", f"Today ({figures.day.isoformat()}, {budget.timezone})", figures.today),
    ):
        if account is None:
            continue
        values = {"label": label, **_account_text(account, budget.currency)}
        rows.append({"name": name, **values})
        text |= {f"{prefix}-{name}-{field}": value for field, value in values.items()}
        meters[f"{prefix}-{name}"] = {"value": str(account.spent), "max": str(account.limit)}
    return {
        "currency": budget.currency,
        "timezone": budget.timezone,
        "rows": rows,
        "text": text,
        "meters": meters,
    }


def _account_text(account: Account, currency: str) -> dict[str, str]:
    held = account.reserved
    return {
        "spent": amount_text(account.spent, currency),
        "limit": amount_text(account.limit, currency),
        "share": share_text(account.spent, account.limit),
        "reserved": "—" if held is None else amount_text(held, currency),
        "left": amount_text(max(account.left, Decimal(0)), currency),
    }
