"""The budget ledger in this process: for the embedded default (one dispatcher process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dialer.ports.budget import Balance, Refused, Reservation, ReserveResult, Unknown


@dataclass
class _Account:
    spent: int
    reserved: int = 0
    until: float | None = None  # dropped after this instant (a day's account)


@dataclass
class _Held:
    amount: int
    keys: tuple[str, ...]
    expires_at: float


@dataclass
class MemoryBudgetLedger:
    now: Callable[[], float]  # seconds since the epoch
    _accounts: dict[str, _Account] = field(default_factory=dict)
    _held: dict[str, _Held] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reserve(self, reservations: Sequence[Reservation]) -> list[ReserveResult]:
        async with self._lock:
            now = self.now()
            self._expire(now)
            return [self._reserve(r, now) for r in reservations]

    def _reserve(self, reservation: Reservation, now: float) -> ReserveResult:
        unknown = tuple(a.key for a in reservation.accounts if a.key not in self._accounts)
        if unknown:
            return Unknown(unknown)
        for account in reservation.accounts:
            entry = self._accounts[account.key]
            if entry.spent + entry.reserved + reservation.amount > account.limit:
                return Refused(account.scope)
        keys = tuple(a.key for a in reservation.accounts)
        for key in keys:
            self._accounts[key].reserved += reservation.amount
        self._held[reservation.id] = _Held(reservation.amount, keys, now + reservation.ttl)
        return None

    def _expire(self, now: float) -> None:
        """Unsettled reservations past their time count at their worst case; days past
        their keeping are dropped."""
        for held_id in [i for i, h in self._held.items() if h.expires_at <= now]:
            self._settle(held_id, None)
        for key in [k for k, a in self._accounts.items() if a.until is not None and a.until <= now]:
            del self._accounts[key]

    async def open(self, spent: Mapping[str, tuple[int, float | None]]) -> None:
        async with self._lock:
            now = self.now()
            for key, (amount, keep_for) in spent.items():
                if key not in self._accounts:
                    until = None if keep_for is None else now + keep_for
                    self._accounts[key] = _Account(amount, until=until)

    async def settle(self, settlements: Sequence[tuple[str, int | None]]) -> int:
        async with self._lock:
            return sum(self._settle(held_id, amount) for held_id, amount in settlements)

    def _settle(self, held_id: str, amount: int | None) -> bool:
        held = self._held.pop(held_id, None)
        if held is None:
            return False
        for key in held.keys:
            account = self._accounts.get(key)
            if account is not None:
                account.reserved -= held.amount
                account.spent += held.amount if amount is None else amount
        return True

    async def balances(self, keys: Sequence[str]) -> dict[str, Balance]:
        async with self._lock:
            self._expire(self.now())
            return {
                key: Balance(a.spent, a.reserved)
                for key in keys
                if (a := self._accounts.get(key)) is not None
            }
