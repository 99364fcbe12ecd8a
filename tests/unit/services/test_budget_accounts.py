"""The ledger accounts a call falls under: a campaign's total and its day, its tenant's
total and day; a day's account is a new one from the budget's midnight on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dialer.domain.budgets import Budget
from dialer.domain.model import Campaign, CampaignSettings
from dialer.ports.budget import BudgetScope
from dialer.services.budgets import Budgets

CAMPAIGN = Campaign(12, 3, CampaignSettings("c", "+14155550100"))
EVENING = datetime(2026, 12, 4, 4, 59, 59, tzinfo=UTC)  # 23:59:59 on the 3rd in New York


def test_a_call_falls_under_every_budget_of_its_campaign_and_tenant() -> None:
    budgets = Budgets(
        Budget("USD", total=Decimal("500"), per_day=Decimal("100"), timezone="America/New_York"),
        Budget("USD", total=Decimal("9000")),
    )
    accounts = budgets.accounts(CAMPAIGN, EVENING)
    assert [(a.key, a.limit, a.scope) for a in accounts] == [
        ("c:12", 500_000_000, BudgetScope.CAMPAIGN_TOTAL),
        ("c:12:2026-12-03", 100_000_000, BudgetScope.CAMPAIGN_DAY),
        ("t:3", 9_000_000_000, BudgetScope.TENANT_TOTAL),
    ]
    day = next(a for a in accounts if a.scope is BudgetScope.CAMPAIGN_DAY)
    assert accounts[day].since == datetime(2026, 12, 3, 5, tzinfo=UTC)
    assert day.keep_for is not None
    assert day.keep_for > timedelta(days=3).total_seconds()  # outlives its day
    assert budgets.refusing(BudgetScope.TENANT_TOTAL).total == Decimal("9000")


def test_at_the_budgets_midnight_the_day_is_a_new_account() -> None:
    budgets = Budgets(Budget("USD", per_day=Decimal("1"), timezone="America/New_York"), None)
    before = {a.key for a in budgets.accounts(CAMPAIGN, EVENING)}
    after = {a.key for a in budgets.accounts(CAMPAIGN, EVENING + timedelta(seconds=1))}
    assert before == {"c:12:2026-12-03"}
    assert after == {"c:12:2026-12-04"}


def test_no_budget_no_account() -> None:
    assert not Budgets(None, None).any
    assert Budgets(None, None).accounts(CAMPAIGN, EVENING) == {}
