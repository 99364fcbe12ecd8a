"""Budgets at dial time: each admitted call of a campaign with a budget (or of a tenant with
one) reserves its worst case — its longest allowed call at its destination's price — on the
ledger before it is recorded, and settles to its real cost when it ends (provider_events).

The ledger (ports.budget) makes the reservation atomic across every account of the call and
every dispatcher; an account it does not know is opened here from the store, at what the
store has charged plus the worst case of the scope's live calls (never less than the
truth). A call whose destination the rate card does not price, in the budget's currency,
cannot be bounded: it is not made (``UNPRICED``)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain.budgets import Budget
from dialer.domain.costs import CostChannel, RateCard, to_micros, worst_case_call
from dialer.domain.model import CallAttempt, Campaign
from dialer.errors import DialerError
from dialer.ports import UnitOfWork
from dialer.ports.budget import (
    BudgetAccount,
    BudgetLedger,
    BudgetScope,
    Refused,
    Reservation,
    Unknown,
)
from dialer.services.context import Services

log = logging.getLogger(__name__)

BUDGETED = "b"  # the first letter of the lease id of a call under a budget
UNPRICED = "no_price"  # the lead's skip reason: its call could not be bounded
DAY_KEPT = timedelta(days=3)  # a day's account outlives its day by this much
RESERVATION_SLACK = 300.0  # seconds past the longest possible call before one counts as lost


@dataclass(frozen=True)
class Source:
    """Where an account's spend is read from in the store, when the ledger must open it."""

    currency: str
    campaign_id: int | None
    tenant_id: int | None
    since: datetime | None  # a day's account: the day's start


@dataclass(frozen=True)
class Budgets:
    """A campaign's budget and its tenant's, as they apply to its calls."""

    campaign: Budget | None
    tenant: Budget | None

    @property
    def any(self) -> bool:
        return self.campaign is not None or self.tenant is not None

    def accounts(self, campaign: Campaign, now: datetime) -> dict[BudgetAccount, Source]:
        found: dict[BudgetAccount, Source] = {}
        if self.campaign is not None:
            scopes = (BudgetScope.CAMPAIGN_TOTAL, BudgetScope.CAMPAIGN_DAY)
            source = Source(self.campaign.currency, campaign.id, None, None)
            found |= _accounts(self.campaign, f"c:{campaign.id}", scopes, source, now)
        if self.tenant is not None:
            scopes = (BudgetScope.TENANT_TOTAL, BudgetScope.TENANT_DAY)
            source = Source(self.tenant.currency, None, campaign.tenant_id, None)
            found |= _accounts(self.tenant, f"t:{campaign.tenant_id}", scopes, source, now)
        return found

    def refusing(self, scope: BudgetScope) -> Budget:
        budget = self.campaign if scope.name.startswith("CAMPAIGN") else self.tenant
        assert budget is not None  # it refused, so it exists
        return budget

    def currencies(self) -> set[str]:
        return {b.currency for b in (self.campaign, self.tenant) if b is not None}


def _accounts(
    budget: Budget,
    key: str,
    scopes: tuple[BudgetScope, BudgetScope],
    source: Source,
    now: datetime,
) -> dict[BudgetAccount, Source]:
    found = {}
    if budget.total is not None:
        found[BudgetAccount(key, to_micros(budget.total), scopes[0])] = source
    if budget.per_day is not None:
        kept = (budget.next_day(now) - now + DAY_KEPT).total_seconds()
        day_key = f"{key}:{budget.day_of(now).isoformat()}"
        account = BudgetAccount(day_key, to_micros(budget.per_day), scopes[1], kept)
        found[account] = dataclasses.replace(source, since=budget.day_starts(now))
    return found


@dataclass(frozen=True)
class Verdict:
    """What the budget said of one call: reserved (``refused`` and ``unpriced`` both off),
    or the account that refused its worst case (millionths)."""

    refused: BudgetAccount | None = None
    unpriced: bool = False
    worst: int = 0

    @property
    def reserved(self) -> bool:
        return self.refused is None and not self.unpriced


async def reserve_calls(
    services: Services,
    uow: UnitOfWork,
    campaign: Campaign,
    budgets: Budgets,
    calls: Sequence[tuple[str, str]],
    now: datetime,
) -> list[Verdict]:
    """Reserve the worst case of each call ``(lease id, phone)`` on every budget account."""
    ledger = services.budgets
    card = await services.pricing.card_for(uow, services.telephony.name, CostChannel.CALL, now, now)
    if ledger is None or card is None or {card.currency} != budgets.currencies():
        return [Verdict(unpriced=True) for _ in calls]
    sources = budgets.accounts(campaign, now)
    accounts = tuple(sources)
    ttl = _reservation_ttl(services, campaign)
    verdicts: list[Verdict | None] = []
    reservations: list[Reservation] = []
    for lease_id, phone in calls:
        worst = worst_case_call(card, phone, campaign.settings.max_call_duration)
        if worst is None:
            verdicts.append(Verdict(unpriced=True))
            continue
        verdicts.append(None)
        reservations.append(Reservation(lease_id, to_micros(worst), accounts, ttl))
    results = await _reserve(services, ledger, uow, reservations, sources, now)
    by_scope = {account.scope: account for account in accounts}
    answers = iter(zip(results, reservations, strict=True))
    decided = []
    for verdict in verdicts:
        if verdict is None:
            refused, reservation = next(answers)
            account = by_scope[refused] if refused is not None else None
            verdict = Verdict(refused=account, worst=reservation.amount)
        decided.append(verdict)
    return decided


async def _reserve(
    services: Services,
    ledger: BudgetLedger,
    uow: UnitOfWork,
    reservations: list[Reservation],
    sources: dict[BudgetAccount, Source],
    now: datetime,
) -> list[BudgetScope | None]:
    results = await ledger.reserve(reservations)
    unknown = {key for r in results if isinstance(r, Unknown) for key in r.keys}
    if unknown:
        wanted = {a: source for a, source in sources.items() if a.key in unknown}
        await _open(services, ledger, uow, wanted, now)
        again = [
            r
            for r, result in zip(reservations, results, strict=True)
            if isinstance(result, Unknown)
        ]
        retried = iter(await ledger.reserve(again))
        results = [next(retried) if isinstance(r, Unknown) else r for r in results]
    return [
        _refusing(result, reservation)
        for result, reservation in zip(results, reservations, strict=True)
    ]


def _refusing(result: object, reservation: Reservation) -> BudgetScope | None:
    if result is None:
        return None
    if isinstance(result, Refused):
        return result.scope
    return reservation.accounts[0].scope  # still not open: refused, never guessed


async def exhausted(services: Services, account: BudgetAccount, worst: int) -> bool:
    """True when even with every reservation back the account cannot take ``worst``: its
    budget is used up (for good, or for the day), not only held by live calls."""
    assert services.budgets is not None
    balance = (await services.budgets.balances([account.key])).get(account.key)
    return balance is not None and balance.spent + worst > account.limit


def lease_id(*, budgeted: bool) -> str:
    """A new lease id; a call under a budget is marked by its first letter, so that only its
    end asks the ledger to settle (a deployment with no budget never pays for one)."""
    return (BUDGETED if budgeted else "") + uuid.uuid4().hex


async def settle_quietly(services: Services, settlements: list[tuple[str, int | None]]) -> None:
    """Settle reservations after the calls' ends are committed; if the ledger cannot be
    reached now, each is counted at its worst case when it expires (never under)."""
    settlements = [s for s in settlements if s[0].startswith(BUDGETED)]
    if services.budgets is None or not settlements:
        return
    try:
        await services.budgets.settle(settlements)
    except DialerError as exc:
        log.warning("%d budget reservations not settled now (%s)", len(settlements), exc)


def _reservation_ttl(services: Services, campaign: Campaign) -> float:
    settings = campaign.settings
    longest = settings.ring_timeout + settings.max_call_duration + services.limits.lease_ttl
    return float(longest) + RESERVATION_SLACK


async def _open(
    services: Services,
    ledger: BudgetLedger,
    uow: UnitOfWork,
    accounts: dict[BudgetAccount, Source],
    now: datetime,
) -> None:
    """Open these accounts at the store's spend, plus the worst case of their live calls
    (read first: a call ending in between is counted twice, never not at all)."""
    live = await uow.attempts.live()
    opened: dict[str, tuple[int, float | None]] = {}
    for account, source in accounts.items():
        spent = await uow.costs.spent(
            source.currency,
            campaign_id=source.campaign_id,
            tenant_id=source.tenant_id,
            since=source.since,
        )
        in_scope = [
            a
            for a in live
            if source.campaign_id in {None, a.campaign_id}
            and source.tenant_id in {None, a.tenant_id}
        ]
        held = await _live_worst(services, uow, in_scope, now)
        opened[account.key] = (spent + held, account.keep_for)
        log.info("budget account %s opened at %d millionths", account.key, spent + held)
    await ledger.open(opened)


async def _live_worst(
    services: Services, uow: UnitOfWork, live: list[CallAttempt], now: datetime
) -> int:
    total = 0
    campaigns: dict[int, Campaign] = {}
    for attempt in live:
        campaign = campaigns.get(attempt.campaign_id)
        if campaign is None:
            campaign = campaigns[attempt.campaign_id] = await uow.campaigns.get(attempt.campaign_id)
        card: RateCard | None = await services.pricing.card_for(
            uow, services.telephony.name, CostChannel.CALL, attempt.created_at or now, now
        )
        worst = (
            worst_case_call(card, attempt.phone, campaign.settings.max_call_duration)
            if card
            else None
        )
        total += to_micros(worst) if worst is not None else 0
    return total
