"""What providers tell about messages: status callbacks, replies (STOP, START, HELP), and
the settling of each message step so the lead can move on to its next one."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain.channels import Channel
from dialer.domain.messages import Message
from dialer.domain.phone import mask
from dialer.domain.sms import OptKeyword, opt_keyword
from dialer.domain.statuses import CampaignStatus, MessageStatus, can_move_message
from dialer.ports import UnitOfWork
from dialer.ports.cost_store import NewCharge
from dialer.ports.message_store import NewMessageEvent
from dialer.ports.messaging import InboundMessage, MessageEvent
from dialer.services import message_steps
from dialer.services.coalescing import Coalescer
from dialer.services.context import Services
from dialer.services.costs import charge_messages, count_spend, message_providers

log = logging.getLogger(__name__)

UNSUBSCRIBED_CODES = frozenset({"21610"})  # the carrier says the number replied STOP
RECEIPT_WAIT = timedelta(minutes=10)  # an SMS with no delivery receipt by then counts as sent
UNKNOWN_AFTER = timedelta(minutes=10)  # a send never heard of by then is given up on
SETTLE_BATCH = 500


@dataclass(frozen=True)
class StatusCallback:
    event: MessageEvent
    message_id: int | None  # from the callback URL we gave (``?m=``)


class MessageEventWriter:
    """A listener's message status callbacks, written together: the callbacks that arrive
    while a transaction is being written go in the next one (services/coalescing.py), so an
    SMS's three callbacks (queued, sent, delivered) cost a share of a commit each, not one."""

    def __init__(self, services: Services) -> None:
        self._coalescer = Coalescer[StatusCallback, bool](
            lambda batch: apply_message_events(services, batch)
        )

    async def write(self, event: MessageEvent, message_id: int | None) -> bool:
        """True once stored; False when it names no message of ours."""
        return await self._coalescer.submit(StatusCallback(event, message_id))


async def apply_message_events(
    services: Services, callbacks: Sequence[StatusCallback]
) -> list[bool]:
    """Record status callbacks in one transaction, each False when it names no message of ours
    (answered 2xx all the same: the provider must not retry it forever). The message id comes
    from the callback URL we gave, so a callback that overtakes the send's own answer still
    finds its message. A batch costs a few statements whatever its size: its messages read
    (locked, in id order: two listeners' batches never wait on each other in a cycle), its
    events inserted, its messages saved."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        found = await _messages_of(uow, callbacks)
        keys = [_dedupe_key(callback.event) for callback in callbacks]
        events = [
            NewMessageEvent(message.id, key, callback.event.progress, callback.event.raw)
            for callback, message, key in zip(callbacks, found, keys, strict=True)
            if message is not None
        ]
        fresh = await uow.messages.record_events(events, now)
        changed: dict[int, Message] = {}
        for callback, message, key in zip(callbacks, found, keys, strict=True):
            if message is not None and (message.id, key) in fresh:
                fresh.discard((message.id, key))  # a repeat within the batch counts once
                await _apply(uow, message, callback.event, now)
                changed[message.id] = message
        await uow.messages.save_many(list(changed.values()))
        await uow.commit()
    for callback, message in zip(callbacks, found, strict=True):
        if message is None:
            log.info("status of unknown message %s ignored", callback.event.provider_message_id)
    return [message is not None for message in found]


def _dedupe_key(event: MessageEvent) -> str:
    return f"{event.progress}:{event.error_code or '-'}"[:64]


async def _messages_of(
    uow: UnitOfWork, callbacks: Sequence[StatusCallback]
) -> list[Message | None]:
    """Each callback's message, one object per message (its callbacks apply in turn), or
    None for one that is not ours."""
    ids = {c.message_id for c in callbacks if c.message_id is not None}
    by_id = await uow.messages.get_many(ids, lock=True)
    found: list[Message | None] = []
    for callback in callbacks:
        provider_id = callback.event.provider_message_id
        if callback.message_id is None:  # a callback URL without our id (older sends)
            message = await uow.messages.by_provider_id(provider_id, lock=True)
            found.append(None if message is None else by_id.setdefault(message.id, message))
            continue
        message = by_id.get(callback.message_id)
        ours = message is not None and message.provider_message_id in {None, provider_id}
        found.append(message if ours else None)
    return found


async def _apply(uow: UnitOfWork, message: Message, event: MessageEvent, now: datetime) -> None:
    message.provider_message_id = message.provider_message_id or event.provider_message_id
    target = MessageStatus(event.progress.value.upper())
    if can_move_message(message.status, target):
        message.move_to(target)
        if event.error_code:
            message.error = f"provider error {event.error_code}"
    if event.error_code in UNSUBSCRIBED_CODES and message.channel is Channel.SMS:
        reason = "the carrier: replied STOP"
        await uow.messages.opt_out(message.tenant_id, Channel.SMS, message.to, reason, now)


async def apply_inbound(services: Services, inbound: InboundMessage) -> OptKeyword | None:
    """Honour STOP (and its synonyms) at once, START, and say when HELP was asked for; other
    replies are logged and left alone."""
    keyword = opt_keyword(inbound.body)
    if keyword is None or keyword is OptKeyword.HELP:
        log.info("reply from %s to %s: %s", mask(inbound.from_), inbound.to, keyword or "text")
        return keyword
    now = services.clock.now()
    async with services.store.unit() as uow:
        tenants = await uow.messages.tenants_of_reply(inbound.to, inbound.from_)
        for tenant_id in tenants:
            if keyword is OptKeyword.STOP:
                reason = f"replied {inbound.body.strip()[:20]!r} to {inbound.to}"
                await uow.messages.opt_out(tenant_id, Channel.SMS, inbound.from_, reason, now)
            else:
                await uow.messages.opt_in(tenant_id, Channel.SMS, inbound.from_)
        await uow.commit()
    log.info("%s from %s for %d tenant(s)", keyword, mask(inbound.from_), len(tenants))
    return keyword


async def settle_messages(services: Services) -> int:
    """Move leads on from the message steps that are over; give up on sends never heard of.
    Returns how many messages were settled. Reads and writes go per batch, not per message."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        lost = await uow.messages.stuck_sending(now - UNKNOWN_AFTER, SETTLE_BATCH)
        for message in lost:
            message.move_to(MessageStatus.FAILED)
            message.error = "outcome unknown: the provider never answered the send nor reported it"
        await uow.messages.save_many(lost)  # settled below, with the others that are over
        over = await uow.messages.to_settle(now, now - RECEIPT_WAIT, SETTLE_BATCH)
        leads = await uow.leads.get_many({m.lead_id for m in over})
        campaigns = {c: await uow.campaigns.get(c) for c in {m.campaign_id for m in over}}
        for message in over:
            if message.status is MessageStatus.DELIVERED:
                await services.outbox.message_delivered(uow, message, now)
            campaign = campaigns[message.campaign_id]
            if campaign.status is not CampaignStatus.CANCELLED:
                outcomes = (*message.outcomes, message.outcome)
                lead = leads[message.lead_id]
                await message_steps.queue_next(
                    services, uow, campaign, lead, after=message.step, outcomes=outcomes
                )
            message.settled_at = now
        await uow.messages.save_many(over)
        charged = await _charge_unanswered_sends(services, uow, over, now)
        await uow.commit()
    count_spend(charged)
    return len(over)


async def _charge_unanswered_sends(
    services: Services, uow: UnitOfWork, over: list[Message], now: datetime
) -> list[NewCharge]:
    """Charge the SMS the provider took although its answer to the send was lost (the
    acceptance, which charges, never came; the status callbacks said it was taken). Their
    segments were never reported: each is charged as one."""
    taken = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
    unanswered = [
        m for m in over if m.channel is Channel.SMS and m.segments is None and m.status in taken
    ]
    if not unanswered:
        return []
    return await charge_messages(
        uow, services.pricing, message_providers(services.sms, services.email), unanswered, now
    )


async def unsubscribe(services: Services, message_id: int, token: str) -> bool:
    """Put the address of an email we sent on the tenant's email opt-out list (the one-click
    link of RFC 8058); False when the link is not one of ours."""
    now = services.clock.now()
    async with services.store.unit() as uow:
        message = await uow.messages.get(message_id)
        if message is None or not token or not hmac.compare_digest(message.token, token):
            return False
        reason = f"unsubscribe link of message {message.id}"
        await uow.messages.opt_out(message.tenant_id, message.channel, message.to, reason, now)
        await uow.commit()
    log.info("message %s: %s unsubscribed from %s", message_id, "recipient", message.channel)
    return True
