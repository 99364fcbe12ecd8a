"""The simulated provider: accepts calls, plays each one's life in simulated time as an asyncio
task, answers REST look-ups and hang-ups, and reports every status change to the call's
StatusCallback and to the observer. Its SMS side is ``engine.sms`` (sms.py).

Everything runs on one event loop, so state changes need no locks; each event is O(1), except
listing calls without a ``To`` filter, which scans every call kept (the last CALLS_KEPT).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import math
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dialer.simulator import wire
from dialer.simulator.callbacks import CallbackSender
from dialer.simulator.calls import REST_STATUS, Call, call_price, campaign_of
from dialer.simulator.clock import SimClock, TokenBucket
from dialer.simulator.config import Outcome, SimulatorConfig
from dialer.simulator.dialects import dialect_for
from dialer.simulator.observer import Observer
from dialer.simulator.plan import (
    SIP_OK,
    SIP_TERMINATED,
    Step,
    draw_outcome,
    plan_call,
    talk_seconds,
)
from dialer.simulator.sms import SmsEngine
from dialer.simulator.tasks import TaskSet

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
CALLS_KEPT = 100_000  # beyond this, the oldest ended call is forgotten (404) at each create


class Engine:
    def __init__(self, config: SimulatorConfig, observer: Observer | None = None) -> None:
        self.config = config
        self.observer = observer or Observer()
        self.clock = SimClock(config.speed)
        self._rng = random.Random(config.seed)
        self._tasks = TaskSet()
        self._calls: dict[str, Call] = {}
        self._calls_to: dict[str, list[Call]] = {}
        self._bucket = TokenBucket(self.clock, config.cps)
        self.dialect = dialect_for(config.dialect, config.auth_token)
        self._callbacks = CallbackSender(
            lambda: self.config, self.observer, self._rng, self.clock, self._tasks, self.dialect
        )
        self._keyed: dict[str, Call] = {}  # Idempotency-Key -> the call it created
        self._closed = asyncio.Event()
        self.sms = SmsEngine(
            lambda: self.config, self.observer.sms, self._rng, self.clock, self._tasks, self._closed
        )

    async def start(self) -> None:
        self._callbacks.start()
        self.sms.start()

    async def aclose(self) -> None:
        """Stop every call where it is (no more callbacks) and close the callback pool.
        Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        await self._tasks.cancel_all()
        await self._callbacks.aclose()
        await self.sms.aclose()

    def configure(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """Apply runtime changes (fault rates, CPS, outcomes...); InvalidInput if refused."""
        self.config = self.config.updated(changes)
        return self.config

    # ------------------------------------------------------------ REST

    def authenticate(self, account_sid: str, authorization: str | None) -> None:
        """HTTP basic auth with the account SID and auth token, as Twilio requires."""
        user, password = _basic_credentials(authorization)
        config = self.config
        good_user = hmac.compare_digest(user.encode(), config.account_sid.encode())
        good_password = hmac.compare_digest(password.encode(), config.auth_token.encode())
        if not (good_user and good_password):
            raise wire.ApiError(
                401,
                wire.BAD_CREDENTIALS,
                "Authenticate",
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        if account_sid != config.account_sid:
            raise _not_found(wire.call_uri(account_sid))

    async def create(
        self, parse: Callable[[], wire.CreateRequest], idempotency_key: str | None = None
    ) -> Call:
        """Create a call from the request ``parse`` reads (called after the injected errors, as
        a provider fails before it validates). A repeated ``idempotency_key`` returns the call
        its first request made, and creates nothing."""
        config = self.config
        if self._closed.is_set():
            raise wire.ApiError(503, wire.SERVICE_UNAVAILABLE, "The simulator is shutting down")
        if idempotency_key and idempotency_key in self._keyed:
            self.observer.count("idempotent_replays")
            return self._keyed[idempotency_key]
        if self._roll(config.error_rate):
            self.observer.count("rejected_5xx")
            raise self._injected_error()
        try:
            request = parse()
        except wire.ApiError:
            self.observer.count("rejected_4xx")
            raise
        wait = self._bucket.take(config.cps)
        if wait is not None:
            self.observer.count("rejected_429")
            retry_after = str(max(1, math.ceil(wait)))  # simulated seconds
            raise wire.ApiError(
                429, wire.TOO_MANY_REQUESTS, "Too Many Requests", {"Retry-After": retry_after}
            )
        call = self._start_call(request)
        if idempotency_key:
            self._keyed[idempotency_key] = call
        if config.response_delay > 0:
            await self._pause(config.response_delay)
        return call

    def get(self, sid: str) -> Call:
        call = self._calls.get(sid)
        if call is None:
            raise _not_found(wire.call_uri(self.config.account_sid, sid))
        return call

    def update(self, sid: str, params: wire.Params) -> Call:
        """``POST .../Calls/{sid}.json``: ``Status`` and ``Twiml`` are acted on (``Url`` is
        accepted and ignored). ``canceled`` ends a call not yet answered and leaves an answered
        one alone; ``completed`` ends either. Ending an unanswered call reports ``canceled``.
        New TwiML with a ``<Say>`` or ``<Play>`` is a message played to the answered call, which
        ends when the message does; ``<Hangup/>`` alone ends it."""
        call = self.get(sid)
        status = wire.first(params, "Status")
        twiml = wire.first(params, "Twiml")
        if twiml and not status:
            return self._new_twiml(call, twiml)
        if not status:
            return call
        if status not in (wire.CANCELED, wire.COMPLETED):
            raise wire.ApiError(
                400, wire.INVALID_PARAMETER, f"Status must be canceled or completed, not {status}"
            )
        if call.ended:
            raise wire.ApiError(
                400, wire.CALL_NOT_LIVE, "Call is not in-progress. Cannot redirect."
            )
        if call.status == wire.IN_PROGRESS and status == wire.CANCELED:
            return call
        self.observer.count("hangups")
        self._end_now(call)
        return call

    def _new_twiml(self, call: Call, twiml: str) -> Call:
        if call.ended:
            raise wire.ApiError(
                400, wire.CALL_NOT_LIVE, "Call is not in-progress. Cannot redirect."
            )
        self.observer.count("twiml_updates")
        if call.status != wire.IN_PROGRESS or call.answered_at is None:
            return call  # Twilio runs it once the call is answered; the simulator does not
        if "<Say" not in twiml and "<Play" not in twiml:
            if "<Hangup" in twiml:
                self._end_now(call)
            return call
        self._count_message(call)
        if call.lifecycle is not None:
            call.lifecycle.cancel()
        call.lifecycle = self._tasks.spawn(self._after_message(call))
        return call

    def _count_message(self, call: Call) -> None:
        """A voicemail is left when it starts after the machine's beep; before it, the
        machine records only part of it."""
        if not call.machine or call.answered_at is None:
            self.observer.count("messages_to_people")
            return
        heard = self.clock.elapsed() - call.answered_at >= self.config.amd_beep_after
        self.observer.count("voicemails_left" if heard else "voicemails_before_beep")

    async def _after_message(self, call: Call) -> None:
        await self.clock.sleep(self.config.voicemail_seconds)
        call.lifecycle = None  # ended here: nothing left to cancel
        self._end_now(call)

    # ------------------------------------------------------------ any dialect

    def find(self, sid: str) -> Call | None:
        return self._calls.get(sid)

    def end(self, call: Call) -> bool:
        """Hang up a live call (an unanswered one ends ``canceled``); False if it had ended."""
        if call.ended:
            return False
        self.observer.count("hangups")
        self._end_now(call)
        return True

    def resource(self, call: Call) -> dict[str, Any]:
        """The call's REST resource now: priced once ``price_delay`` has passed since it
        ended (the delay in force now)."""
        ended = call.ended_at
        priced = ended is not None and self.clock.elapsed() >= ended + self.config.price_delay
        return call.resource(priced)

    def calls_newest_first(self, to: str | None = None) -> list[Call]:
        return self._candidates(to)

    def list_calls(self, query: wire.Params) -> dict[str, Any]:
        """``GET .../Calls.json``, newest first, filtered by To, From, Status and StartTime
        (``StartTime>``/``StartTime<`` inclusive; a date or an ISO 8601 instant)."""
        filters = {name: wire.first(query, name) for name in _LIST_FILTERS if query.get(name)}
        page_size = min(_whole(query, "PageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        page = _whole(query, "Page", 0)
        selected = _select(self._candidates(filters.get("To")), filters)
        window = selected[page * page_size : (page + 1) * page_size + 1]
        return wire.list_page(
            self.config.account_sid,
            [self.resource(call) for call in window[:page_size]],
            filters=filters,
            page=page,
            page_size=page_size,
            more=len(window) > page_size,
        )

    # ------------------------------------------------------------ lifecycle

    def _start_call(self, request: wire.CreateRequest) -> Call:
        now = self.clock.wall()
        call = Call(
            sid=self.dialect.new_call_id(self._rng.getrandbits(128)),
            account_sid=self.config.account_sid,
            request=request,
            created_at=now,
            updated_at=now,
            campaign=campaign_of(request.status_callback),
            price_unit=self.config.price_unit,
        )
        self._calls[call.sid] = call
        self._calls_to.setdefault(request.to, []).append(call)
        if len(self._calls) > CALLS_KEPT:
            self._forget_oldest()
        self.observer.call_started(
            request.to, request.from_, request.status_callback, call.campaign
        )
        self.observer.call_placed(request.to, request.from_, request.extra.get("answer_url"))
        if self.config.epoch is not None:
            simulated = self.config.epoch + timedelta(seconds=self.clock.elapsed())
            self.observer.call_started_at(request.to, simulated)
        outcome = draw_outcome(self.config, self._rng, request.to)
        call.machine = outcome is Outcome.MACHINE
        steps = plan_call(
            outcome, self.config, self._rng, request.timeout, request.time_limit, request.detection
        )
        call.lifecycle = self._tasks.spawn(self._live(call, steps))
        return call

    def _forget_oldest(self) -> None:
        oldest = next(iter(self._calls.values()))
        if not oldest.ended:
            return  # still live: kept, and tried again at the next create
        del self._calls[oldest.sid]
        same_number = self._calls_to[oldest.request.to]
        same_number.remove(oldest)  # the first of a short list
        if not same_number:
            del self._calls_to[oldest.request.to]

    async def _live(self, call: Call, steps: Iterable[Step]) -> None:
        for step in steps:
            await self.clock.sleep(step.after)
            if step.answered_by is None:
                self._move(call, step.status, step.duration, step.sip)
            elif self._detected(call, step.answered_by):
                return

    def _detected(self, call: Call, answered_by: str) -> bool:
        """Report who answered (to the call's detection URL, and on its later callbacks and
        resource); True when the call ends on it (Plivo's ``machine_detection=hangup``)."""
        if call.ended:
            return True
        call.answered_by = answered_by
        machine = answered_by.startswith("machine")
        self.observer.count("machines_detected" if machine else "humans_detected")
        for delivery in self.dialect.detection(call, self.clock.wall()):
            self._callbacks.send(call.outbox, delivery, terminal=False)
        if machine and call.request.extra.get("machine_detection") == "hangup":
            call.lifecycle = None  # ended here: nothing left to cancel
            self._end_now(call)
            return True
        return False

    def _end_now(self, call: Call) -> None:
        if call.lifecycle is not None:
            call.lifecycle.cancel()
        if call.status == wire.IN_PROGRESS and call.answered_at is not None:
            talk = talk_seconds(self.clock.elapsed() - call.answered_at)
            self._move(call, wire.COMPLETED, talk, SIP_OK)
        else:
            self._move(call, wire.CANCELED, 0, SIP_TERMINATED)

    def _move(self, call: Call, status: str, duration: int | None, sip: int | None) -> None:
        if call.ended:
            return
        now = self.clock.wall()
        call.status, call.updated_at = status, now
        if status == wire.INITIATED:
            call.start_time = now
        elif status == wire.IN_PROGRESS:
            call.answered_at, call.answered_wall = self.clock.elapsed(), now
            if call.machine:
                self.observer.count("machines_answered")
        elif status in wire.TERMINAL:
            call.end_time, call.duration, call.sip, call.lifecycle = now, duration or 0, sip, None
            call.ended_at = self.clock.elapsed()
            call.price = call_price(call.duration, self.config.price_per_minute)
            request = call.request
            self.observer.call_ended(request.to, request.from_, call.campaign, status)
        self._notify(call, now)

    def _notify(self, call: Call, now: datetime) -> None:
        delivery = self.dialect.notification(call, call.next_sequence, now)
        if delivery is None:
            return
        call.next_sequence += 1
        self._callbacks.send(call.outbox, delivery, terminal=call.ended)

    # ------------------------------------------------------------ helpers

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def _injected_error(self) -> wire.ApiError:
        if self._rng.random() < 0.5:
            return wire.ApiError(500, wire.INTERNAL_ERROR, "Internal Server Error")
        return wire.ApiError(503, wire.SERVICE_UNAVAILABLE, "Service Unavailable")

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time, cut short by aclose()."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self.clock.real(seconds))

    def _candidates(self, to: str | None) -> list[Call]:
        """Calls to ``to`` (or all calls), newest first."""
        calls = self._calls_to.get(to, []) if to else self._calls.values()
        return list(reversed(calls))


_TIME_FILTERS = ("StartTime", "StartTime>", "StartTime<")
_LIST_FILTERS = ("To", "From", "Status", *_TIME_FILTERS)


def _select(calls: list[Call], filters: Mapping[str, str]) -> list[Call]:
    bounds = {
        name: _instant_or_date(filters[name]) for name in _LIST_FILTERS[3:] if name in filters
    }
    return [call for call in calls if _matches(call, filters, bounds)]


def _matches(call: Call, filters: Mapping[str, str], bounds: Mapping[str, date]) -> bool:
    if filters.get("From", call.request.from_) != call.request.from_:
        return False
    status = REST_STATUS.get(call.status, call.status)
    if filters.get("Status", status) != status:
        return False
    # A call not yet dialled has no start time: it is matched on its creation time.
    started = call.start_time or call.created_at
    return all(_compare(started, name, bound) for name, bound in bounds.items())


def _compare(started: datetime, name: str, bound: date) -> bool:
    """A date bound compares with the day the call started, an instant with the instant."""
    value = started if isinstance(bound, datetime) else started.date()
    if name == "StartTime>":
        return value >= bound
    if name == "StartTime<":
        return value <= bound
    return value == bound


def _instant_or_date(text: str) -> date:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise wire.ApiError(400, wire.INVALID_PARAMETER, f"Invalid date {text!r}") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _whole(query: wire.Params, name: str, default: int) -> int:
    text = wire.first(query, name)
    if not text:
        return default
    if not text.isdigit():
        raise wire.ApiError(400, wire.INVALID_PARAMETER, f"{name} must be a whole number")
    return int(text)


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def _not_found(uri: str) -> wire.ApiError:
    return wire.ApiError(404, wire.NOT_FOUND, f"The requested resource {uri} was not found")
