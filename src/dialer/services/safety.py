"""Contact safety use cases: do-not-call lists, per-tenant number policy, contact history."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dialer.domain.model import CallAttempt
from dialer.domain.phone import InvalidNumber, normalize
from dialer.domain.safety import NumberPolicy
from dialer.errors import InvalidInput, Problem
from dialer.ports import Store, UnitOfWork

GLOBAL_LIST = 0  # the tenant id of the global do-not-call list
POLICY_KEYS = {
    "number_max_attempts": "max_attempts",
    "number_window_seconds": "window",
    "conversation_cooldown_seconds": "cooldown",
}


async def policy_for(uow: UnitOfWork, tenant_id: int, default: NumberPolicy) -> NumberPolicy:
    """The tenant's number policy: its own settings over the deployment's defaults."""
    return policy_from(await uow.tenant_settings(tenant_id), default)


async def set_policy(
    store: Store, tenant: str, values: Mapping[str, Any], default: NumberPolicy
) -> NumberPolicy:
    unknown = sorted(set(values) - set(POLICY_KEYS))
    if unknown:
        raise InvalidInput([Problem(key, "not a tenant setting") for key in unknown])
    problems = [
        Problem(k, "must be a whole number") for k, v in values.items() if type(v) is not int
    ]
    if problems:
        raise InvalidInput(problems)
    async with store.unit() as uow:
        tenant_id = await uow.tenant_id(tenant)
        merged = {**await uow.tenant_settings(tenant_id), **values}
        try:
            policy = policy_from(merged, default)
        except ValueError as exc:
            raise InvalidInput(Problem("settings", str(exc))) from exc
        await uow.set_tenant_settings(tenant_id, merged)
        await uow.commit()
    return policy


def policy_from(values: Mapping[str, Any], default: NumberPolicy) -> NumberPolicy:
    changes = {field: values[key] for key, field in POLICY_KEYS.items() if key in values}
    return dataclasses.replace(default, **changes)


def _numbers(raw: Iterable[tuple[str, str, str | None]]) -> list[tuple[str, str | None]]:
    """Normalise ``(where, number, reason)`` rows; raise InvalidInput naming each bad one
    by ``where`` (a CSV line, a command argument, a request field)."""
    entries, problems = [], []
    for where, number, reason in raw:
        try:
            entries.append((normalize(number), reason))
        except InvalidNumber as exc:
            problems.append(Problem(where, str(exc)))
    if problems:
        raise InvalidInput(problems)
    return entries


async def add_to_do_not_call(
    store: Store,
    tenant: str,
    rows: Iterable[tuple[str, str, str | None]],
    *,
    is_global: bool = False,
) -> int:
    """List numbers as never to be called; all or nothing (a bad number refuses the batch).
    Listed numbers are checked at dial time, so a campaign already running obeys at once."""
    entries = _numbers(rows)
    async with store.unit() as uow:
        owner = GLOBAL_LIST if is_global else await uow.tenant_id(tenant)
        added = await uow.add_do_not_call(owner, entries, datetime.now(UTC))
        await uow.commit()
    return added


async def remove_from_do_not_call(
    store: Store, tenant: str, numbers: Iterable[str], *, is_global: bool = False
) -> int:
    entries = _numbers((f"number {i}", n, None) for i, n in enumerate(numbers, 1))
    async with store.unit() as uow:
        owner = GLOBAL_LIST if is_global else await uow.tenant_id(tenant)
        removed = await uow.remove_do_not_call(owner, [phone for phone, _ in entries])
        await uow.commit()
    return removed


async def is_listed(store: Store, tenant: str, number: str) -> bool:
    [(phone, _)] = _numbers([("number", number, None)])
    async with store.unit() as uow:
        return phone in await uow.do_not_call_listed(await uow.tenant_id(tenant), [phone])


@dataclass(frozen=True)
class HistoryEntry:
    campaign: str
    attempt: CallAttempt

    @property
    def started_at(self) -> datetime | None:
        return self.attempt.created_at


async def contact_history(
    store: Store, tenant: str, number: str, limit: int = 100
) -> list[HistoryEntry]:
    [(phone, _)] = _numbers([("number", number, None)])
    async with store.unit() as uow:
        rows = await uow.contact_history(await uow.tenant_id(tenant), phone, limit)
    return [HistoryEntry(name, attempt) for attempt, name in rows]
