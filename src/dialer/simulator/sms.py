"""The simulated SMS provider (Twilio's Messages API): accepts messages within each sender's
rate, refuses contacts who opted out (21610), plays each message's life in simulated time
(queued, sent, then delivered, undelivered or failed), reports every status to the message's
StatusCallback, and has some recipients text back (STOP, HELP, START...) to the inbound URL.

Opt-outs are kept as Twilio keeps them for a long code: STOP from a contact to one of our
numbers blocks that number's messages to the contact until the contact texts START to it.
The observer counts, besides, any message accepted to a contact who stopped another sender.

Callbacks and inbound messages are signed as the call callbacks are (``X-Twilio-Signature``
with the auth token), delivered in order per message, and retried once after
``callback_retry_delay``; the call callbacks' fault injection does not apply to them.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from dialer.adapters.telephony import twilio_signature
from dialer.simulator import sms_wire, wire
from dialer.simulator.clock import SimClock, TokenBucket
from dialer.simulator.config import SimulatorConfig, SmsOutcome
from dialer.simulator.message_observer import SentSms, SmsObserver
from dialer.simulator.messages import Message, inbound_form
from dialer.simulator.tasks import TaskSet
from dialer.simulator.webhooks import WebhookClient, WebhookError

WEBHOOK_TIMEOUT = 10.0  # real seconds
MESSAGES_KEPT = 100_000  # beyond this, the oldest ended message is forgotten (404)
USER_AGENT = "TwilioProxy/1.1"

# The statuses a message passes through after "queued", each after its share of the delay.
_PATHS = {
    SmsOutcome.DELIVERED: ((0.5, sms_wire.SENT), (0.5, sms_wire.DELIVERED)),
    SmsOutcome.UNDELIVERED: ((0.5, sms_wire.SENT), (0.5, sms_wire.UNDELIVERED)),
    SmsOutcome.FAILED: ((1.0, sms_wire.FAILED),),
}


class SmsEngine:
    def __init__(
        self,
        settings: Callable[[], SimulatorConfig],
        observer: SmsObserver,
        rng: random.Random,
        clock: SimClock,
        tasks: TaskSet,
        closed: asyncio.Event,  # the engine's: set when it shuts down
    ) -> None:
        self._settings = settings
        self.observer = observer
        self._rng = rng
        self._clock = clock
        self._tasks = tasks
        self._started_wall = clock.wall() - timedelta(seconds=clock.elapsed() / clock.speed)
        self._messages: dict[str, Message] = {}
        self._buckets: dict[str, TokenBucket] = {}  # sender -> its rate
        self._stopped: set[tuple[str, str]] = set()  # (our sender, contact) after STOP
        self._client: WebhookClient | None = None
        self._closed = closed

    def start(self) -> None:
        self._client = WebhookClient(
            max_connections=self._settings().callback_connections,
            timeout=WEBHOOK_TIMEOUT,
            user_agent=USER_AGENT,
        )

    async def aclose(self) -> None:
        """Close the webhook pool, once the engine has cancelled every message's task."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def now(self) -> datetime:
        """The simulated clock: from the epoch when one is set, else from the real start."""
        start = self._settings().epoch or self._started_wall
        return start + timedelta(seconds=self._clock.elapsed())

    # ------------------------------------------------------------ REST

    def create(self, params: wire.Params) -> Message:
        """``POST .../Messages.json``: refusals in the order a provider makes them (load,
        then the request, then the recipient, then the sender's rate)."""
        config = self._settings()
        if self._closed.is_set():
            raise wire.ApiError(503, wire.SERVICE_UNAVAILABLE, "The simulator is shutting down")
        if _roll(self._rng, config.sms_throttle_rate):
            self.observer.count("rejected_429")
            raise _too_many(1.0)
        request = self._parse(params)
        self._refuse_opted_out(request, config)
        self._take_slot(request.from_, config)
        return self._accept(request)

    def get(self, sid: str) -> Message:
        message = self._messages.get(sid)
        if message is None:
            uri = sms_wire.message_uri(self._settings().account_sid, sid)
            raise wire.ApiError(404, wire.NOT_FOUND, f"The requested resource {uri} was not found")
        return message

    def receive(self, contact: str, sender: str, body: str) -> str:
        """``contact`` texts ``body`` to our number ``sender``: an opt-out keyword takes effect
        at once (as at Twilio, webhook or not), then the inbound webhook is sent. The new
        message's SID."""
        self._apply_keyword(contact, sender, sms_wire.keyword(body))
        self.observer.count("inbound_received")
        config = self._settings()
        sid = self._new_sid()
        if config.sms_inbound_url:
            form = inbound_form(sid, config.account_sid, contact, sender, body)
            self._tasks.spawn(self._deliver(config.sms_inbound_url, form, "inbound"))
        return sid

    def _apply_keyword(self, contact: str, sender: str, keyword: str | None) -> None:
        if keyword == "STOP":
            self._stopped.add((sender, contact))
            self.observer.stopped(contact, sender)
        elif keyword == "START":
            self._stopped.discard((sender, contact))
            self.observer.started(contact, sender)

    # ------------------------------------------------------------ refusals

    def _parse(self, params: wire.Params) -> sms_wire.SmsCreate:
        try:
            return sms_wire.parse_create(params)
        except wire.ApiError:
            self.observer.count("rejected_4xx")
            raise

    def _refuse_opted_out(self, request: sms_wire.SmsCreate, config: SimulatorConfig) -> None:
        pair = (request.from_, request.to)
        if request.to in config.sms_opted_out or pair in self._stopped:
            self.observer.count("rejected_opted_out")
            raise sms_wire.opted_out_error()

    def _take_slot(self, sender: str, config: SimulatorConfig) -> None:
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = TokenBucket(self._clock, config.sms_mps)
        wait = bucket.take(config.sms_mps)
        if wait is not None:
            self.observer.count("rejected_429")
            self.observer.count("rejected_429_over_mps")
            raise _too_many(wait)

    # ------------------------------------------------------------ lifecycle

    def _accept(self, request: sms_wire.SmsCreate) -> Message:
        config = self._settings()
        now = self._clock.wall()
        message = Message(
            sid=self._new_sid(),
            account_sid=config.account_sid,
            request=request,
            segments=sms_wire.segments(request.body),
            created_at=now,
            updated_at=now,
        )
        self._keep(message)
        self._observe(message)
        message.lifecycle = self._tasks.spawn(self._live(message, self._draw(request.to)))
        return message

    def _observe(self, message: Message) -> None:
        request = message.request
        at, elapsed = self.now(), self._clock.elapsed()
        sent = SentSms(
            message.sid,
            request.to,
            request.from_,
            request.body,
            request.status_callback,
            at,
            elapsed,
        )
        self.observer.accepted(sent)

    def _keep(self, message: Message) -> None:
        self._messages[message.sid] = message
        if len(self._messages) > MESSAGES_KEPT:
            oldest = next(iter(self._messages.values()))
            if oldest.ended:  # a live one is kept, and tried again at the next create
                del self._messages[oldest.sid]

    def _draw(self, to: str) -> SmsOutcome:
        config = self._settings()
        override = config.sms_outcome_overrides.get(to)
        if override is not None:
            return override
        outcomes = list(config.sms_outcome_mix)
        weights = [config.sms_outcome_mix[outcome] for outcome in outcomes]
        return self._rng.choices(outcomes, weights)[0]

    async def _live(self, message: Message, outcome: SmsOutcome) -> None:
        config = self._settings()
        delay = self._rng.uniform(config.sms_delay_min, config.sms_delay_max)
        await self._report(message)  # queued
        for share, status in _PATHS[outcome]:
            await self._clock.sleep(delay * share)
            self._move(message, status)
            await self._report(message)
        if message.status == sms_wire.DELIVERED:
            await self._maybe_reply(message)

    def _move(self, message: Message, status: str) -> None:
        now = self._clock.wall()
        message.status, message.updated_at = status, now
        if status == sms_wire.SENT:
            message.date_sent = now
        elif status == sms_wire.UNDELIVERED:
            message.error_code = self._rng.choice(sms_wire.UNDELIVERED_CODES)
        elif status == sms_wire.FAILED:
            message.error_code = self._rng.choice(sms_wire.FAILED_CODES)
        if message.ended:
            message.lifecycle = None
            self.observer.ended(status)

    async def _report(self, message: Message) -> None:
        url = message.request.status_callback
        if url:
            await self._deliver(url, message.callback_form(), "callbacks")

    async def _maybe_reply(self, message: Message) -> None:
        config = self._settings()
        contact = message.request.to
        reply = config.sms_replies.get(contact)
        if reply is None and _roll(self._rng, config.sms_stop_rate):
            reply = "STOP"
        if reply is not None:
            await self._clock.sleep(config.sms_reply_delay)
            self.receive(contact, message.request.from_, reply)

    # ------------------------------------------------------------ webhooks

    async def _deliver(self, url: str, form: dict[str, str], kind: str) -> None:
        """POST a signed form; once more after ``callback_retry_delay`` if it failed. ``kind``
        names the counters: callbacks_* or inbound_*."""
        if await self._post(url, form):
            self.observer.count(f"{kind}_sent")
            return
        self.observer.count(f"{kind}_retried")
        await self._clock.sleep(self._settings().callback_retry_delay)
        if await self._post(url, form):
            self.observer.count(f"{kind}_sent")
        else:
            self.observer.count(f"{kind}_failed")

    async def _post(self, url: str, form: dict[str, str]) -> bool:
        if self._client is None:
            return False  # closed (or never started): nothing more is sent
        signature = twilio_signature.sign(self._settings().auth_token, url, form)
        headers = {
            twilio_signature.SIGNATURE_HEADER: signature,
            "I-Twilio-Idempotency-Token": f"{form['MessageSid']}-{form.get('MessageStatus', '')}",
        }
        try:
            status = await self._client.post_form(url, form, headers)
        except WebhookError:
            return False
        return 200 <= status < 300

    def _new_sid(self) -> str:
        return f"SM{self._rng.getrandbits(128):032x}"


def _roll(rng: random.Random, rate: float) -> bool:
    return rate > 0 and rng.random() < rate


def _too_many(wait: float) -> wire.ApiError:
    retry_after = str(max(1, math.ceil(wait)))  # simulated seconds, as for calls
    return wire.ApiError(
        429, wire.TOO_MANY_REQUESTS, "Too Many Requests", {"Retry-After": retry_after}
    )
