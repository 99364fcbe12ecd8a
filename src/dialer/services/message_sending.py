"""Sending the due messages of SMS and email steps, at most once each.

A tick claims due messages (SKIP LOCKED: dispatchers on many machines never take the same
one), checks each against the contact's window, the do-not-call lists and the channel's
opt-outs, and renders it; those that go are leased (still PENDING, due again only when the
lease runs out), all in one transaction. Each is then sent after its send slot (the step's
rate, the sender number's rate), and just before its request the sent marker (SENDING) is
committed, if the lease still holds. A dispatcher killed while its batch waits for slots
costs nothing: the leased messages are claimed again when the lease runs out. Only the few
whose marker was committed when it died are in doubt, and a message found SENDING is never
sent again: its status callback (which names our message id) or, failing that, the
stuck-message sweep settles it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.domain.channels import Channel, MessageStep
from dialer.domain.messages import Message
from dialer.domain.model import Campaign, Rate, Rates
from dialer.domain.phone import mask, zones_of_key
from dialer.domain.statuses import MessageStatus
from dialer.domain.templates import MessageTemplate, RenderFailed
from dialer.errors import (
    Conflict,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from dialer.ports import NewDeadLetter, Scope
from dialer.ports.message_store import Lease
from dialer.ports.messaging import EmailRequest, MessageAccepted, SmsRequest
from dialer.services.coalescing import Coalescer
from dialer.services.context import Services
from dialer.services.costs import charge_messages, count_spend, message_providers
from dialer.services.message_claims import ClaimReads, read_for_claim
from dialer.services.send_slots import keep_slot
from dialer.services.tenants import channel_rates

log = logging.getLogger(__name__)

MAX_SEND_WAIT = 5.0  # seconds a claimed message may wait for its slot; later: claimed again
# How long a claim holds a message it has not started to send. Longer than a message waits
# for its turn and its slot; a dispatcher dying with a batch in hand delays it this much.
CLAIM_LEASE = timedelta(seconds=20)
MARK_AHEAD = 0.25  # seconds before its send slot a message's sent marker is written
SEND_CONCURRENCY = 50  # requests in flight at once per dispatcher
MAX_SEND_TRIES = 5  # sends the provider could not take before the message is dead-lettered
NOT_SENT = "not sent "  # how a dead-lettered message's error begins: it never left
MESSAGE_JOB = "message"  # the dead letters' kind for messages
RETRY_AFTER_UNAVAILABLE = 10.0  # seconds before a message the provider could not take
UNSUBSCRIBED_RECIPIENT = "21610"  # Twilio: the number replied STOP to this sender
TOLL_FREE_AREAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})


# Sends are paced this much under a sender's rate. Each leaves on its slot, but what follows
# (the event loop, the HTTP request) delays one a few milliseconds more than the next; at a
# long code's 1 per second with no burst, two sends spaced exactly 1 s at the slots could
# reach the carrier 0.98 s apart and the second be refused. 10 % absorbs 100 ms of that.
SENDER_MARGIN = 0.9


def sender_rate(sender: str) -> Rate:
    """What carriers allow one sender: short codes 100/s, toll-free 3/s, long codes 1/s."""
    digits = sender.removeprefix("+")
    if sender.isdigit() and len(sender) <= 6:  # a short code (no "+": not E.164)
        per_second = 100.0
    elif digits.startswith("1") and digits[1:4] in TOLL_FREE_AREAS:
        per_second = 3.0
    else:
        per_second = 1.0
    return Rate(per_second * SENDER_MARGIN, max(1, int(per_second * SENDER_MARGIN)))


@dataclass(frozen=True)
class Outgoing:
    message: Message
    request: SmsRequest | EmailRequest
    scope: Scope
    leased_until: datetime  # the claim's lease: its due_at while it waits to be sent


class MessageSender:
    def __init__(
        self, services: Services, batch_size: int = 200, concurrency: int = SEND_CONCURRENCY
    ) -> None:
        self.services = services
        self.batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        # Sent markers and acceptances of sends at nearly the same moment: one commit each.
        self._marks = Coalescer[Lease, bool](self._write_marks)
        self._acceptances = Coalescer[Acceptance, None](self._write_acceptances)
        self._providers = message_providers(services.sms, services.email)

    async def run_once(self) -> int:
        """Claim and send one batch of due messages; returns how many were sent."""
        return await self.send_all(await self.claim())

    async def send_all(self, outgoing: list[Outgoing]) -> int:
        sent = await asyncio.gather(*(self._send(o) for o in outgoing))
        return sum(sent)

    # ------------------------------------------------------------------ claim

    async def claim(self) -> list[Outgoing]:
        now = self.services.clock.now()
        async with self.services.store.unit() as uow:
            claimed = await uow.messages.claim_due(now, self.batch_size)
            if not claimed:
                return []
            reads = await read_for_claim(uow, claimed, now, self.services.limits.number_policy)
            outgoing = [o for o in (self._prepare(reads, m, now) for m in claimed) if o]
            await uow.messages.save_many(claimed)
            await uow.commit()
        return outgoing

    def _prepare(self, reads: ClaimReads, message: Message, now: datetime) -> Outgoing | None:
        """The request to send, with the message leased; or None, with the message skipped,
        failed or moved to its next opening."""
        campaign = reads.campaigns[message.campaign_id]
        lead = reads.leads[message.lead_id]
        step = campaign.settings.steps[message.step - 1]
        refusal = reads.refusal(message)
        if refusal is not None:
            _end(message, MessageStatus.SKIPPED, refusal)
            return None
        window = lead.window(campaign.settings.window)
        opens = window.next_open(now, zones_of_key(message.zone_key))
        if opens is None:
            _end(message, MessageStatus.SKIPPED, "no window left in the contact's zone")
            return None
        if opens > now:
            message.due_at = opens  # quiet hours: SMS at night is a legal matter too
            return None
        recheck = reads.over_frequency_cap(message, now)
        if recheck is not None:
            message.due_at = recheck
            message.error = "waiting: the channel's frequency cap for this address"
            return None
        contact = reads.contacts[lead.contact_id]
        values = {**contact.attributes, **({"name": contact.name} if contact.name else {})}
        try:
            request = self._request(campaign, step, message, values)
        except RenderFailed as exc:  # a missing attribute among them: never a blank
            _end(message, MessageStatus.FAILED, str(exc))
            return None
        message.due_at, message.error = now + CLAIM_LEASE, None
        rates = channel_rates(reads.tenants[message.tenant_id], message.channel)
        scope = self._scope(campaign, step, message, rates)
        return Outgoing(message, request, scope, message.due_at)

    def _request(
        self, campaign: Campaign, step: MessageStep, message: Message, values: dict[str, str]
    ) -> SmsRequest | EmailRequest:
        base = self.services.webhook_base.rstrip("/")
        body = MessageTemplate.parse(step.body).render(values)
        if message.channel is Channel.SMS:
            callback = f"{base}/webhooks/twilio/messages/status?m={message.id}"
            return SmsRequest(message.id, message.to, message.sender, body, callback)
        subject = MessageTemplate.parse(step.subject or "", where="subject").render(values)
        html = (
            None
            if step.html is None
            else MessageTemplate.parse(step.html, html=True, where="html").render(values)
        )
        unsubscribe = f"{base}/unsubscribe/{message.id}/{message.token}"
        domain = _domain_of(message.sender)
        return EmailRequest(
            message.id, message.to, message.sender, subject, body, html, unsubscribe, domain
        )

    def _scope(
        self, campaign: Campaign, step: MessageStep, message: Message, tenant_rates: Rates
    ) -> Scope:
        is_sms = message.channel is Channel.SMS
        return Scope(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            global_max=self.services.limits.global_max,
            campaign_max=campaign.settings.max_concurrency,
            campaign_rate=step.rate,
            global_rate=self.services.limits.channel_rates.get(message.channel.value),
            tenant_rate=tenant_rates,
            channel=message.channel.value,
            step=message.step,
            sender=message.sender if is_sms else None,
            sender_rate=sender_rate(message.sender) if is_sms else None,
        )

    # ------------------------------------------------------------------ send

    async def _send(self, outgoing: Outgoing) -> bool:
        async with self._slots:
            now = self.services.clock.now()
            if now + timedelta(seconds=MAX_SEND_WAIT) >= outgoing.leased_until:
                await self._release(outgoing, now)  # its turn came too late for its lease
                return False
            slot = await self.services.admission.reserve_send(outgoing.scope, MAX_SEND_WAIT)
            if not slot.reserved:
                await self._release(outgoing, now + timedelta(seconds=MAX_SEND_WAIT))
                return False
            # The marker is written just before the slot, not after it: a send that left its
            # slot late by a commit's time could reach the provider within a second of the
            # next one, on time, and pass the rate there. Not long before it either: a message
            # marked and then lost with its dispatcher is given up, never sent.
            send_at = self.services.clock.now() + timedelta(seconds=slot.wait)
            await self.services.clock.sleep(max(0.0, slot.wait - MARK_AHEAD))
            if not await self._mark_sending(outgoing):
                return False  # the lease ran out, or the campaign was cancelled meanwhile
            if not await self._on_time(outgoing, send_at):
                return False
            try:
                accepted = await self._provider_send(outgoing)
            except ProviderThrottled as exc:  # the provider's pace, not a failure
                await self._put_back(outgoing.message, exc.retry_after or RETRY_AFTER_UNAVAILABLE)
                return False
            except ProviderUnavailable as exc:
                log.warning("message %s not sent (%s)", outgoing.message.id, exc)
                await self._put_back(outgoing.message, RETRY_AFTER_UNAVAILABLE, failure=str(exc))
                return False
            except ProviderRejected as exc:
                await self._refused(outgoing.message, exc)
                return False
            except ProviderOutcomeUnknown as exc:
                log.warning("message %s may have been sent (%s)", outgoing.message.id, exc)
                return False  # the callback or the stuck-message sweep settles it
            await self._accepted(outgoing.message, accepted)
            return True

    async def _on_time(self, outgoing: Outgoing, send_at: datetime) -> bool:
        """Wait for the slot (``send_slots.keep_slot``); a message that could not keep one is
        put back, due again later."""
        put_back = await keep_slot(self.services, outgoing.scope, send_at, MAX_SEND_WAIT)
        if put_back is None:
            return True
        await self._put_back(outgoing.message, max(put_back, MAX_SEND_WAIT))
        return False

    async def _provider_send(self, outgoing: Outgoing) -> MessageAccepted:
        request = outgoing.request
        if isinstance(request, SmsRequest):
            if self.services.sms is None:
                raise ProviderRejected("no SMS provider is set up")
            return await self.services.sms.send_sms(request)
        if self.services.email is None:
            raise ProviderRejected("no SMTP server is set up (DIALER_SMTP_URL)")
        return await self.services.email.send_email(request)

    async def _mark_sending(self, outgoing: Outgoing) -> bool:
        """Commit the sent marker, if the claim's lease still holds."""
        return await self._marks.submit(Lease(outgoing.message.id, outgoing.leased_until))

    async def _write_marks(self, leases: list[Lease]) -> list[bool]:
        now = self.services.clock.now()
        async with self.services.store.unit() as uow:
            started = await uow.messages.start_sending(leases, now)
            await uow.commit()
        return [lease.message_id in started for lease in leases]

    async def _release(self, outgoing: Outgoing, due_at: datetime) -> None:
        """Give an unsent message back before its lease runs out, due at ``due_at``."""
        async with self.services.store.unit() as uow:
            await uow.messages.release(outgoing.message.id, outgoing.leased_until, due_at)
            await uow.commit()

    async def _put_back(self, message: Message, after: float, failure: str | None = None) -> None:
        """Due again after ``after`` seconds: it was not sent. A ``failure`` (the provider
        down, our credentials refused) counts as a try; after MAX_SEND_TRIES the message
        fails and goes to the dead-letter queue, from which an operator may send it again."""
        now = self.services.clock.now()
        async with self.services.store.unit() as uow:
            current = await uow.messages.get(message.id, lock=True)
            if current is None or current.status is not MessageStatus.SENDING:
                return
            current.tries += failure is not None
            if failure is not None and current.tries >= MAX_SEND_TRIES:
                current.move_to(MessageStatus.FAILED)
                current.error = f"{NOT_SENT}after {current.tries} tries: {failure}"[:300]
                letter = _dead_letter(current, failure)
                await uow.cluster.add_dead_letter(letter, now)
                await self.services.outbox.dead_letter_added(uow, letter, now)
            else:
                current.move_to(MessageStatus.PENDING)
                current.due_at = now + timedelta(seconds=after)
                current.sent_at = None
            await uow.messages.save(current)
            await uow.commit()

    async def _refused(self, message: Message, exc: ProviderRejected) -> None:
        now = self.services.clock.now()
        async with self.services.store.unit() as uow:
            current = await uow.messages.get(message.id, lock=True)
            if current is None or current.status is not MessageStatus.SENDING:
                return
            # A refused email address is a bounce; a refused SMS never left the provider.
            bounced = current.channel is Channel.EMAIL
            current.move_to(MessageStatus.UNDELIVERED if bounced else MessageStatus.FAILED)
            current.error = f"refused: {exc}"
            if UNSUBSCRIBED_RECIPIENT in str(exc):
                await uow.messages.opt_out(
                    current.tenant_id, Channel.SMS, current.to, "the carrier: replied STOP", now
                )
            await uow.messages.save(current)
            await uow.commit()
        log.info("message %s to %s refused: %s", message.id, mask(message.to), exc)

    async def _accepted(self, message: Message, accepted: MessageAccepted) -> None:
        await self._acceptances.submit(Acceptance(message.id, accepted))

    async def _write_acceptances(self, batch: list[Acceptance]) -> list[None]:
        async with self.services.store.unit() as uow:
            found = await uow.messages.get_many({a.message_id for a in batch}, lock=True)
            for acceptance in batch:
                current = found.get(acceptance.message_id)
                if current is not None:
                    _take(current, acceptance.accepted)
            await uow.messages.save_many(list(found.values()))
            charged = await charge_messages(
                uow,
                self.services.pricing,
                self._providers,
                list(found.values()),
                self.services.clock.now(),
            )
            await uow.commit()
        count_spend(charged)
        return [None] * len(batch)


@dataclass(frozen=True)
class Acceptance:
    message_id: int
    accepted: MessageAccepted


def _take(message: Message, accepted: MessageAccepted) -> None:
    """The provider's answer to a send; a status callback may have overtaken it."""
    message.provider_message_id = accepted.provider_message_id
    message.segments = accepted.segments if accepted.segments else message.segments
    target = MessageStatus(accepted.progress.value.upper())
    if message.status is MessageStatus.SENDING and target is not MessageStatus.SENDING:
        message.move_to(target)


def _end(message: Message, status: MessageStatus, reason: str) -> None:
    message.move_to(status)
    message.error = reason


def _domain_of(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rsplit("@", 1)[-1] if "@" in address else "dialer.invalid"


def _dead_letter(message: Message, cause: str) -> NewDeadLetter:
    return NewDeadLetter(
        tenant_id=message.tenant_id,
        kind=MESSAGE_JOB,
        key=f"message:{message.id}",
        cause=cause[:500],
        payload={"message_id": message.id, "channel": message.channel.value},
        attempts=message.tries,
    )


async def resend(services: Services, message_id: int) -> str:
    """Replay a dead-lettered message: due again at once if it never left; what was done."""
    async with services.store.unit() as uow:
        message = await uow.messages.get(message_id, lock=True)
        if message is None:
            raise Conflict(f"message {message_id} does not exist; discard the letter")
        never_left = message.status is MessageStatus.FAILED and (message.error or "").startswith(
            NOT_SENT
        )
        if not never_left:
            return f"message {message_id} is {message.status}: nothing to send again"
        message.move_to(MessageStatus.PENDING)
        message.due_at, message.sent_at, message.tries = services.clock.now(), None, 0
        await uow.messages.save(message)
        await uow.commit()
    return f"message {message_id} is due again"
