"""The budget ledger: what each budget account has spent and holds reserved, shared by every
dispatcher using the same backend (in-process, or Redis).

A call admitted under a budget reserves its worst case (its longest allowed call at its
destination's price) on every account of its scope at once, or on none; when it ends its
reservation is settled to the real cost. Spend therefore never passes a limit: at any
instant ``spent + reserved`` bounds everything that has been or may still be charged. A
reservation that is never settled (a lost process) expires and is counted at its worst case.
An account the ledger does not know (first use, or its backend lost its data) is opened from
the store by the caller, at what the store has charged plus the worst case of the calls still
live: never less than the truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class BudgetScope(StrEnum):
    """Which budget refused a call: the dispatcher pauses on a total, waits on a day."""

    CAMPAIGN_TOTAL = "campaign_budget"
    CAMPAIGN_DAY = "campaign_daily_budget"
    TENANT_TOTAL = "tenant_budget"
    TENANT_DAY = "tenant_daily_budget"

    @property
    def is_daily(self) -> bool:
        return self in {BudgetScope.CAMPAIGN_DAY, BudgetScope.TENANT_DAY}


@dataclass(frozen=True)
class BudgetAccount:
    """One budget's ledger entry: ``c:12`` (campaign 12's total), ``c:12:2026-12-04`` (its
    day, in the budget's time zone), ``t:3`` and ``t:3:2026-12-04`` likewise for a tenant."""

    key: str
    limit: int  # millionths of the budget's currency
    scope: BudgetScope
    keep_for: float | None = None  # seconds a day's account is kept (None: for good)


@dataclass(frozen=True)
class Reservation:
    id: str  # the call's lease id
    amount: int  # its worst case, in millionths
    accounts: tuple[BudgetAccount, ...]
    ttl: float  # seconds after which an unsettled reservation counts at its worst case


@dataclass(frozen=True)
class Refused:
    scope: BudgetScope


@dataclass(frozen=True)
class Unknown:
    """The ledger has no entry for these accounts: open them (``open``) and ask again."""

    keys: tuple[str, ...]


ReserveResult = None | Refused | Unknown  # None: reserved


@dataclass(frozen=True)
class Balance:
    spent: int
    reserved: int


class BudgetLedger(Protocol):
    async def reserve(self, reservations: Sequence[Reservation]) -> list[ReserveResult]:
        """Reserve each in order, all of its accounts or none; in one atomic step for the
        batch. Expired reservations are first counted as spent at their worst case."""
        ...

    async def open(self, spent: Mapping[str, tuple[int, float | None]]) -> None:
        """Open accounts at these spends (key -> (millionths, seconds to keep or None)),
        leaving any already open as they are."""
        ...

    async def settle(self, settlements: Sequence[tuple[str, int | None]]) -> int:
        """Settle reservations to their real cost ((id, millionths); None: the worst case).
        Idempotent: an unknown or settled id is skipped. Returns how many were settled."""
        ...

    async def balances(self, keys: Sequence[str]) -> dict[str, Balance]:
        """The accounts that are open among ``keys``."""
        ...
