"""What a campaign, and a tenant, have spent: the campaign page's costs panel (in the live
snapshot, so its figures move with the calls) and the tenant's costs page.

Sums come from the store's rollups (``services.costs.rollup``), always for the visitor's own
tenant; budgets are set against them in ``money``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from dialer.api.dashboard.money import (
    Account,
    BudgetFigures,
    amount_text,
    amounts_text,
    budget_figures,
    budget_view,
    cheapest_call,
)
from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel
from dialer.domain.model import Campaign
from dialer.domain.statuses import TERMINAL_CAMPAIGN, CampaignStatus
from dialer.ports.cost_store import CostGrouping, CostQuery, CostRow
from dialer.services import costs, tenants
from dialer.services.context import Services

DAYS_SHOWN = 30  # the tenant's costs page: the last 30 UTC days, today included
NOUNS = {CostChannel.CALL: "calls", CostChannel.SMS: "SMS", CostChannel.EMAIL: "emails"}
RAISE = "Raise the budget and resume the campaign to go on."


def totals(rows: Iterable[CostRow]) -> dict[str, Decimal]:
    """The rows' amounts summed per currency."""
    summed: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        summed[row.currency] += row.amount
    return dict(summed)


# ------------------------------------------------------------------ a campaign


async def campaign_costs(services: Services, campaign: Campaign, now: datetime) -> dict[str, Any]:
    """The campaign's costs panel: so far and today (UTC) per currency, per channel, and its
    budget with a note when it stopped the campaign. ``text`` and ``meters`` are the live
    fields the page's script updates."""
    today = now.astimezone(UTC).date()
    query = CostQuery(campaign.tenant_id, (CostGrouping.CHANNEL,), campaign.id)
    rows = await costs.rollup(services.store, query)
    today_rows = await costs.rollup(services.store, replace(query, since=today, until=today))
    channels = _channels(campaign, rows)
    text = {
        "cost-day": today.isoformat(),
        "cost-total": amounts_text(totals(rows)),
        "cost-today": amounts_text(totals(today_rows)),
        **{f"cost-{c['channel']}": c["amount"] for c in channels},
        **{f"count-{c['channel']}": c["count"] for c in channels},
    }
    budget, meters, figures = None, {}, None
    if campaign.settings.budget is not None:
        figures = await budget_figures(
            services, campaign.settings.budget, f"c:{campaign.id}", now, campaign_id=campaign.id
        )
        budget = budget_view(figures, "budget")
        text |= budget["text"]
        meters = budget["meters"]
    text["budget-note"] = await BudgetNote(services, campaign, now).text(figures)
    return {
        "today": today.isoformat(),
        "channels": channels,
        "budget": budget,
        "text": text,
        "meters": meters,
    }


def _channels(campaign: Campaign, rows: list[CostRow]) -> list[dict[str, str]]:
    """A row per channel the campaign uses (calls, and its steps') or was charged on."""
    used = {CostChannel.CALL} | {CostChannel(s.channel.value) for s in campaign.settings.steps}
    used |= {row.channel for row in rows if row.channel is not None}
    shown = []
    for channel in CostChannel:
        if channel not in used:
            continue
        mine = [row for row in rows if row.channel is channel]
        count = sum(row.count for row in mine)
        shown.append(
            {
                "channel": channel.value,
                "label": NOUNS[channel],
                "amount": amounts_text(totals(mine), "—"),
                "count": f"{count:,}",
            }
        )
    return shown


@dataclass
class BudgetNote:
    """Why the campaign's budget stops it, if it does: its total (or its tenant's) is spent
    and it is paused, or its day is spent and its leads wait for the next one."""

    services: Services
    campaign: Campaign
    now: datetime
    _worst: dict[str, Decimal | None] = field(default_factory=dict)

    async def worst(self, currency: str) -> Decimal | None:
        """The least one more call of the campaign reserves (read once per note)."""
        if currency not in self._worst:
            duration = self.campaign.settings.max_call_duration
            self._worst[currency] = await cheapest_call(
                self.services, currency, [duration], self.now
            )
        return self._worst[currency]

    async def text(self, figures: BudgetFigures | None) -> str:
        paused = self.campaign.status is CampaignStatus.PAUSED
        if paused and figures is not None and figures.total is not None:
            found = await self._spent(figures.total, figures.budget)
            if found:
                return f"Paused because its budget is spent: {found} {RAISE}"
        if paused:
            found = await self._tenant_spent()
            if found:
                return f"Paused because the tenant's budget is spent: {found} {RAISE}"
        if figures is not None and figures.today is not None:
            found = await self._spent(figures.today, figures.budget)
            if found:
                resume = f"{figures.next_day:%Y-%m-%d %H:%M} UTC"
                return f"Today's budget is spent: {found} Calls resume at {resume}."
        return ""

    async def _spent(self, account: Account, budget: Budget) -> str:
        """Empty when ``account`` still takes a call; else what is left, and why not."""
        worst = await self.worst(budget.currency)
        if not account.used_up(worst):
            return ""
        left = amount_text(max(account.left, Decimal(0)), budget.currency)
        of = amount_text(account.limit, budget.currency)
        if worst is None:
            return f"{left} left of {of}."
        least = amount_text(worst, budget.currency)
        return f"{left} left of {of}, less than one more call may cost ({least})."

    async def _tenant_spent(self) -> str:
        tenant_id = self.campaign.tenant_id
        budget = await tenants.tenant_budget(self.services.store, tenant_id)
        if budget is None or budget.total is None:
            return ""
        figures = await budget_figures(
            self.services, budget, f"t:{tenant_id}", self.now, tenant_id=tenant_id
        )
        assert figures.total is not None
        return await self._spent(figures.total, budget)


# ------------------------------------------------------------------ a tenant


@dataclass(frozen=True)
class TenantCosts:
    """The tenant's spend over the last ``DAYS_SHOWN`` UTC days, per campaign and per day
    (one column per currency), and its budget."""

    since: date
    until: date
    currencies: list[str]
    campaigns: list[dict[str, Any]]
    days: list[dict[str, Any]]
    total: dict[str, str]  # per currency, over the days shown
    count: str
    budget: dict[str, Any] | None
    note: str


async def tenant_costs(
    services: Services, tenant_id: int, campaigns: list[Campaign], now: datetime
) -> TenantCosts:
    until = now.astimezone(UTC).date()
    since = until - timedelta(days=DAYS_SHOWN - 1)
    query = CostQuery(tenant_id, (CostGrouping.CAMPAIGN,), since=since, until=until)
    by_campaign = await costs.rollup(services.store, query)
    by_day = await costs.rollup(services.store, replace(query, group_by=(CostGrouping.DAY,)))
    currencies = sorted({row.currency for row in by_campaign})
    names = {c.id: c.name for c in campaigns}
    campaign_rows = [
        {"id": cid, "name": names.get(cid, f"#{cid}"), **_cells(mine, currencies)}
        for cid, mine in _grouped(by_campaign, lambda r: r.campaign_id).items()
    ]
    campaign_rows.sort(key=lambda r: [-r["sums"].get(c, 0) for c in currencies] + [r["id"]])
    days = _grouped(by_day, lambda r: r.day)
    day_rows = [
        {"day": day.isoformat(), **_cells(days.get(day, []), currencies)}
        for day in (until - timedelta(days=n) for n in range(DAYS_SHOWN))
    ]
    everything = _cells(by_campaign, currencies)
    budget, note = await _tenant_budget(services, tenant_id, campaigns, now)
    return TenantCosts(
        since,
        until,
        currencies,
        campaign_rows,
        day_rows,
        everything["amounts"],
        everything["count"],
        budget,
        note,
    )


def _grouped(rows: list[CostRow], key: Any) -> dict[Any, list[CostRow]]:
    found: dict[Any, list[CostRow]] = defaultdict(list)
    for row in rows:
        found[key(row)].append(row)
    return dict(found)


def _cells(rows: list[CostRow], currencies: list[str]) -> dict[str, Any]:
    """A table row's amount per currency (``—`` for none) and count."""
    sums = totals(rows)
    return {
        "sums": sums,
        "amounts": {c: amount_text(sums[c], c) if c in sums else "—" for c in currencies},
        "count": f"{sum(row.count for row in rows):,}",
    }


async def _tenant_budget(
    services: Services, tenant_id: int, campaigns: list[Campaign], now: datetime
) -> tuple[dict[str, Any] | None, str]:
    """The tenant's budget against its spend, and a note when a limit of it is spent."""
    budget = await tenants.tenant_budget(services.store, tenant_id)
    if budget is None:
        return None, ""
    figures = await budget_figures(services, budget, f"t:{tenant_id}", now, tenant_id=tenant_id)
    durations = {
        c.settings.max_call_duration for c in campaigns if c.status not in TERMINAL_CAMPAIGN
    }
    worst = await cheapest_call(services, budget.currency, durations, now)
    note = ""
    if figures.total is not None and figures.total.used_up(worst):
        note = "The tenant's budget is spent: its campaigns pause as they next try to call."
    elif figures.today is not None and figures.today.used_up(worst):
        resume = f"{figures.next_day:%Y-%m-%d %H:%M} UTC"
        note = f"Today's budget of the tenant is spent: calls resume at {resume}."
    return budget_view(figures, "tenant-budget"), note
