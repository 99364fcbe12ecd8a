"""The budget ledger on Redis, beside admission (the same server, namespace and hash tag):
shared by every dispatcher. Each operation is one Lua script on the server's clock.

    bud:held        hash: reservation id -> "amount<TAB>account<TAB>account..."
    bud:exp         sorted set: reservation id scored by expiry (microseconds)
    bud:a:<account> hash: spent, reserved (millionths of the budget's currency)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis.asyncio import Redis

from dialer.adapters.admission.redis import Arg, Scripts, answering
from dialer.ports.budget import (
    Balance,
    BudgetAccount,
    BudgetScope,
    Refused,
    Reservation,
    ReserveResult,
    Unknown,
)

US = 1_000_000
BUDGET_SCRIPTS = ("budget_reserve", "budget_settle", "budget_open")
_SCOPES = {scope.value: scope for scope in BudgetScope}


class RedisBudgetLedger:
    def __init__(self, client: Redis, *, namespace: str = "dialer") -> None:
        self._client = client
        self._prefix = f"{{{namespace}}}:bud:"
        self._accounts = f"{self._prefix}a:"
        self._scripts = Scripts(client, BUDGET_SCRIPTS)

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> object:
        async with answering(name):
            return await self._scripts.run(name, keys, args)

    def _fixed_keys(self) -> list[str]:
        return [f"{self._prefix}held", f"{self._prefix}exp"]

    async def reserve(self, reservations: Sequence[Reservation]) -> list[ReserveResult]:
        accounts: dict[str, BudgetAccount] = {}
        for reservation in reservations:
            for account in reservation.accounts:
                accounts.setdefault(account.key, account)
        position = {key: i + 1 for i, key in enumerate(accounts)}
        args: list[Arg] = [self._accounts, len(accounts)]
        for account in accounts.values():
            args += [account.limit, account.scope.value]
        for r in reservations:
            args += [r.id, r.amount, round(r.ttl * US), len(r.accounts)]
            args += [position[a.key] for a in r.accounts]
        keys = self._fixed_keys() + [self._accounts + key for key in accounts]
        answers = await self._run("budget_reserve", keys, args)
        assert isinstance(answers, list)
        return [_result(str(answer), r) for answer, r in zip(answers, reservations, strict=True)]

    async def open(self, spent: Mapping[str, tuple[int, float | None]]) -> None:
        if not spent:
            return
        keys = [self._accounts + key for key in spent]
        args: list[Arg] = []
        for amount, keep_for in spent.values():
            args += [amount, -1 if keep_for is None else max(1, round(keep_for * 1000))]
        await self._run("budget_open", keys, args)

    async def settle(self, settlements: Sequence[tuple[str, int | None]]) -> int:
        if not settlements:
            return 0
        args: list[Arg] = [self._accounts]
        for held_id, cost in settlements:
            args += [held_id, -1 if cost is None else cost]
        return int(str(await self._run("budget_settle", self._fixed_keys(), args)))

    async def balances(self, keys: Sequence[str]) -> dict[str, Balance]:
        await self.reserve([])  # counts expired reservations first
        async with answering("budget balances"), self._client.pipeline(False) as pipe:
            for key in keys:
                pipe.hmget(self._accounts + key, "spent", "reserved")
            found = await pipe.execute()
        return {
            key: Balance(int(values[0]), int(values[1]))
            for key, values in zip(keys, found, strict=True)
            if values[0] is not None
        }


def _result(answer: str, reservation: Reservation) -> ReserveResult:
    if answer == "ok":
        return None
    if answer.startswith("unknown:"):
        positions = [int(p) for p in answer.removeprefix("unknown:").split(",")]
        return Unknown(tuple(reservation.accounts[p - 1].key for p in positions))
    return Refused(_SCOPES[answer])
