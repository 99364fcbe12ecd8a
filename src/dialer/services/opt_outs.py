"""Per-channel opt-out lists: the addresses a tenant may no longer text (SMS) or email, kept
beside the do-not-call lists (the tenant's and the global one), which every channel obeys.

STOP replies and unsubscribe links add to them as they come; operators add and remove
through the API and the command line, here. Addresses are checked and normalised the way
contacts' are (numbers to E.164, email addresses by email-validator), so an operator's entry
matches the address a message step would use. A batch is all or nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from email_validator import validate_email

from dialer.domain.channels import Channel
from dialer.domain.phone import normalize
from dialer.errors import InvalidInput, Problem
from dialer.ports import Store
from dialer.ports.message_store import OptOut

CHANNELS = (Channel.SMS, Channel.EMAIL)  # the channels that have opt-out lists

# (where, raw address): ``where`` names it in an error (a request field, a command argument)
Rows = Iterable[tuple[str, str]]


def channel_of(name: str) -> Channel:
    """``sms`` or ``email``; InvalidInput naming ``channel`` otherwise."""
    try:
        channel = Channel(name)
    except ValueError:
        channel = None
    if channel not in CHANNELS:
        raise InvalidInput(Problem("channel", f"expected sms or email, got {name!r}"))
    return channel


def normalised(channel: Channel, raw: str) -> str:
    """The address as message steps use it; ValueError saying what is wrong with it."""
    if channel is Channel.SMS:
        return normalize(raw)
    return validate_email(raw.strip(), check_deliverability=False).normalized


def addresses(channel: Channel, rows: Rows) -> list[str]:
    """Every address normalised, once each, in order; InvalidInput naming each bad one."""
    found: dict[str, None] = {}
    problems = []
    for where, raw in rows:
        try:
            found[normalised(channel, raw)] = None
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
    if problems:
        raise InvalidInput(problems)
    return list(found)


async def add(
    store: Store, tenant: str, channel: Channel, rows: Rows, reason: str, now: datetime
) -> tuple[int, int]:
    """Opt addresses out; (added, already opted out). Messages not sent yet are skipped
    when their turn comes."""
    wanted = addresses(channel, rows)
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        added = 0
        for address in wanted:
            added += await uow.messages.opt_out(tenant_id, channel, address, reason, now)
        await uow.commit()
    return added, len(wanted) - added


async def remove(store: Store, tenant: str, channel: Channel, rows: Rows) -> tuple[int, int]:
    """Opt addresses back in; (removed, not opted out)."""
    wanted = addresses(channel, rows)
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        removed = 0
        for address in wanted:
            removed += await uow.messages.opt_in(tenant_id, channel, address)
        await uow.commit()
    return removed, len(wanted) - removed


async def page(
    store: Store, tenant: str, channel: Channel, after_id: int, limit: int
) -> list[OptOut]:
    async with store.unit() as uow:
        tenant_id = await uow.tenants.id_for(tenant)
        return await uow.messages.opt_outs(tenant_id, channel, after_id, limit)


async def counts(store: Store, tenant_id: int) -> dict[Channel, int]:
    """How many addresses the tenant has opted out of each channel (0 included)."""
    async with store.unit() as uow:
        found = await uow.messages.opt_out_counts(tenant_id)
    return {channel: found.get(channel, 0) for channel in CHANNELS}
