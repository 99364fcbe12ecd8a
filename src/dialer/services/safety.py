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
from dialer.domain.window import CallingWindow, TimeRange, format_ranges, parse_ranges
from dialer.errors import InvalidInput, Problem
from dialer.ports import DoNotCallEntry, Store, UnitOfWork
from dialer.services.access import KeyScope, Principal
from dialer.services.tenants import bounded_problems

GLOBAL_LIST = 0  # the tenant id of the global do-not-call list
CALLING_HOURS = "calling_hours"  # kept apart: a text of ranges, not a bounded number
POLICY_KEYS = {
    "number_max_attempts": "max_attempts",
    "number_window_seconds": "window",
    "conversation_cooldown_seconds": "cooldown",
}
# As the deployment's defaults are bounded (settings.py): a window past 30 days would make
# every dispatch read a month of history per number.
POLICY_BOUNDS = {
    "number_max_attempts": (1, 1000),
    "number_window_seconds": (1, 30 * 86400),
    "conversation_cooldown_seconds": (0, 365 * 86400),
}


async def policy_for(uow: UnitOfWork, tenant_id: int, default: NumberPolicy) -> NumberPolicy:
    """The tenant's number policy: its own settings over the deployment's defaults."""
    return policy_from(await uow.tenants.settings(tenant_id), default)


async def current_policy(store: Store, tenant_id: int, default: NumberPolicy) -> NumberPolicy:
    async with store.unit() as uow:
        return await policy_for(uow, tenant_id, default)


async def set_policy(
    store: Store, tenant: str, values: Mapping[str, Any], default: NumberPolicy
) -> NumberPolicy:
    """Change some of the tenant's policy (None: back to the deployment's default); all or
    nothing, within the bounds the deployment's own settings have (the command line and
    the API both come here)."""
    numbers = {k: v for k, v in values.items() if k != CALLING_HOURS}
    problems = bounded_problems(numbers, POLICY_BOUNDS)
    values = dict(values)
    if values.get(CALLING_HOURS) is not None:
        try:
            values[CALLING_HOURS] = format_ranges(hours_from_text(values[CALLING_HOURS]))
        except ValueError as exc:
            problems.append(Problem(CALLING_HOURS, str(exc)))
    if problems:
        raise InvalidInput(problems)
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        merged = {**await uow.tenants.settings(tenant_id), **values}
        merged = {k: v for k, v in merged.items() if v is not None}
        await uow.tenants.save_settings(tenant_id, merged)
        await uow.commit()
    return policy_from(merged, default)


def policy_from(values: Mapping[str, Any], default: NumberPolicy) -> NumberPolicy:
    changes = {field: values[key] for key, field in POLICY_KEYS.items() if key in values}
    if CALLING_HOURS in values:  # stored as its text, checked when it was set
        changes["calling_hours"] = parse_ranges(values[CALLING_HOURS])
    return dataclasses.replace(default, **changes)


def hours_from_text(text: object) -> tuple[TimeRange, ...]:
    """'08:00-12:00;13:00-21:00' as ranges; ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError("expected ranges like 08:00-21:00 or 09:00-12:00;13:00-20:00")
    ranges = parse_ranges(text)
    if not ranges:
        raise ValueError("at least one range like 08:00-21:00")
    CallingWindow.every_day(ranges)  # refuses overlapping ranges
    return ranges


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
    listed_by: str | None = None,
) -> int:
    """List numbers as never to be called; all or nothing (a bad number refuses the batch).
    Listed numbers are checked at dial time, so a campaign already running obeys at once.
    ``listed_by`` is the tenant whose key listed them; None: the platform (a platform key,
    the command line)."""
    entries = _numbers(rows)
    async with store.unit() as uow:
        owner = GLOBAL_LIST if is_global else await uow.tenants.id_for(tenant)
        author = await uow.tenants.id_for(listed_by) if listed_by is not None else None
        added = await uow.do_not_call.add(owner, entries, datetime.now(UTC), author)
        await uow.commit()
    return added


def author_of_additions(caller: Principal) -> str | None:
    """Whom the caller's additions are recorded as listed by: its tenant, or the platform."""
    return None if caller.scope is KeyScope.PLATFORM else caller.tenant


async def do_not_call_page(
    store: Store, caller: Principal, is_global: bool, after_id: int, limit: int
) -> list[DoNotCallEntry]:
    """A page of the caller's tenant list (all its own) or of the global list, as the caller
    may see it."""
    async with store.unit() as uow:
        if not is_global:
            return await uow.do_not_call.page(caller.tenant_id, after_id, limit)
        entries = await uow.do_not_call.page(GLOBAL_LIST, after_id, limit)
    return [as_seen_by(caller, entry) for entry in entries]


def as_seen_by(caller: Principal, entry: DoNotCallEntry) -> DoNotCallEntry:
    """Only a platform key reads who listed a number; a tenant reads the reason only of what
    it listed itself. Another tenant's reason can name a person or a dispute: on the shared
    global list every tenant sees that a number is listed, never why or by whom."""
    if caller.scope is KeyScope.PLATFORM:
        return entry
    own = entry.added_by_id == caller.tenant_id
    hidden = dataclasses.replace(entry, added_by_id=None, added_by=None)
    return hidden if own else dataclasses.replace(hidden, reason=None)


async def remove_from_do_not_call(
    store: Store, tenant: str, numbers: Iterable[str], *, is_global: bool = False
) -> int:
    entries = _numbers((f"number {i}", n, None) for i, n in enumerate(numbers, 1))
    async with store.unit() as uow:
        owner = GLOBAL_LIST if is_global else await uow.tenants.id_for(tenant)
        removed = await uow.do_not_call.remove(owner, [phone for phone, _ in entries])
        await uow.commit()
    return removed


async def is_listed(store: Store, tenant: str, number: str) -> bool:
    [(phone, _)] = _numbers([("number", number, None)])
    async with store.unit() as uow:
        return phone in await uow.do_not_call.listed(await uow.tenants.id_for(tenant), [phone])


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
        rows = await uow.contacts.history(await uow.tenants.id_for(tenant), phone, limit)
    return [HistoryEntry(name, attempt) for attempt, name in rows]
