"""The pre-dial hook: a campaign's request to the tenant's system after admission and before
the provider's create, and what its answer may say. Pure: the request is made by a service.

The answer is JSON (an empty 2xx answer means proceed)::

    {"action": "proceed", "answer_url": "https://bot.example/answer",
     "caller_id": "+14155550100", "parameters": {"session": "abc"}}
    {"action": "cancel", "reason": "already a customer"}
    {"action": "defer", "until": "2026-12-04T15:00:00Z"}   (or "seconds": 600)

``parameters`` are added to the answer URL's query: what the voice bot reads when the
provider fetches its instructions. A ``caller_id`` must be one of the campaign's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from dialer.domain.urls import check_http_url

MAX_TIMEOUT = 10.0  # seconds: a hook waits inside the call's lease, which has 60 s to spare
MAX_DEFER = timedelta(days=30)
MAX_ANSWER_BYTES = 64 * 1024
MAX_PARAMETERS = 50


class OnError(StrEnum):
    """What a hook that times out, cannot be reached or answers nonsense leads to."""

    SKIP = "skip"  # the lead is skipped, not called
    PROCEED = "proceed"  # the call is placed as if the hook had said proceed
    RETRY = "retry"  # the lead is due again later, its attempts unspent


class Action(StrEnum):
    PROCEED = "proceed"
    CANCEL = "cancel"
    DEFER = "defer"


@dataclass(frozen=True)
class PreDialHook:
    url: str
    timeout: float = 2.0  # seconds
    on_error: OnError = OnError.SKIP


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str = ""
    defer_until: datetime | None = None
    answer_url: str | None = None
    caller_id: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()


class HookFailed(Exception):
    """The hook gave no usable answer; the message says why (it is kept as the cause)."""


def read_verdict(status: int, body: bytes, now: datetime, caller_ids: frozenset[str]) -> Verdict:
    """The hook's answer as a verdict, or HookFailed naming what is wrong with it."""
    if not 200 <= status < 300:
        raise HookFailed(f"the hook answered {status}")
    if not body.strip():
        return Verdict(Action.PROCEED)
    if len(body) > MAX_ANSWER_BYTES:
        raise HookFailed(f"the hook's answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise HookFailed(f"the hook's answer is not JSON ({exc})") from exc
    if not isinstance(answer, dict):
        raise HookFailed("the hook's answer is not a JSON object")
    try:
        action = Action(answer.get("action", Action.PROCEED))
    except ValueError:
        wrong = answer.get("action")
        raise HookFailed(f"action: {wrong!r} is not proceed, cancel or defer") from None
    if action is Action.CANCEL:
        return Verdict(action, reason=_text(answer, "reason")[:300])
    if action is Action.DEFER:
        return Verdict(action, defer_until=_defer_until(answer, now))
    return _proceed(answer, caller_ids)


def _proceed(answer: dict[str, Any], caller_ids: frozenset[str]) -> Verdict:
    answer_url = answer.get("answer_url")
    if answer_url is not None:
        if not isinstance(answer_url, str):
            raise HookFailed("answer_url: expected a URL")
        try:
            check_http_url(answer_url)
        except ValueError as exc:
            raise HookFailed(f"answer_url: {exc}") from exc
    caller_id = answer.get("caller_id")
    if caller_id is not None and caller_id not in caller_ids:
        raise HookFailed("caller_id: not one of the campaign's caller ids")
    return Verdict(
        Action.PROCEED,
        answer_url=answer_url,
        caller_id=caller_id,
        parameters=_parameters(answer.get("parameters")),
    )


def _parameters(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_PARAMETERS:
        raise HookFailed(f"parameters: expected an object of at most {MAX_PARAMETERS} strings")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise HookFailed("parameters: every name and value must be a string")
    return tuple(sorted(value.items()))


def _defer_until(answer: dict[str, Any], now: datetime) -> datetime:
    if "seconds" in answer:
        seconds = answer["seconds"]
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise HookFailed("seconds: expected a number of seconds, 0 or more")
        until = now + timedelta(seconds=min(float(seconds), MAX_DEFER.total_seconds() + 1))
    elif isinstance(answer.get("until"), str):
        try:
            until = datetime.fromisoformat(answer["until"])
        except ValueError as exc:
            raise HookFailed(f"until: not an ISO 8601 instant ({exc})") from exc
        if until.tzinfo is None:
            raise HookFailed("until: the instant needs its offset (Z or +hh:mm)")
    else:
        raise HookFailed("defer needs until (an ISO 8601 instant) or seconds")
    if until - now > MAX_DEFER:
        raise HookFailed(f"until: more than {MAX_DEFER.days} days ahead")
    return max(until, now)


def _text(answer: dict[str, Any], key: str) -> str:
    value = answer.get(key)
    return value if isinstance(value, str) else ""


def with_parameters(url: str, parameters: tuple[tuple[str, str], ...]) -> str:
    """``url`` with ``parameters`` added to its query (those already there are kept)."""
    if not parameters:
        return url
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *parameters])
    return parts._replace(query=query).geturl()
