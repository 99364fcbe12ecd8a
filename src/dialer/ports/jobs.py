"""The executor's jobs on the wire: an ``Origination`` as plain JSON (what a Celery task
carries and what a dead letter keeps), how a job ended, and how a failed one is recorded.
Every executor (inline, Celery) and the services that run jobs speak this vocabulary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dialer.domain.model import Rate, Rates
from dialer.domain.pre_dial import OnError, PreDialHook
from dialer.errors import InvalidInput, Problem
from dialer.ports.admission import Scope
from dialer.ports.executor import Origination
from dialer.ports.records import NewDeadLetter
from dialer.ports.telephony import CallRequest

ORIGINATE = "originate"  # the dead-letter kind of a failed origination job
_WHOLE_FIELDS = ("attempt_id", "lead_id", "campaign_id", "tenant_id")
_RATE_FIELDS = ("campaign_rate", "tenant_rate", "global_rate")


def job_payload(job: Origination) -> dict[str, Any]:
    """The job as JSON carries it (its scope's tuples of rates as lists): the payload a worker
    receives and a dead letter keeps is equal to this one."""
    payload: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(job)))
    return payload


def job_from_payload(data: Mapping[str, Any]) -> Origination:
    """The job a payload describes; InvalidInput naming what is wrong with it."""
    try:
        request = CallRequest(**data["request"])
        scope, hook = _scope_from(data.get("scope")), _hook_from(data)
        job = Origination(**{**data, "request": request, "scope": scope, "pre_dial": hook})
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(Problem("payload", f"not an origination job: {exc!r}")) from exc
    wrong = [name for name in _WHOLE_FIELDS if not _whole(getattr(job, name))]
    if wrong or not _whole(request.attempt_id) or not isinstance(request.to, str):
        problems = [Problem(f"payload.{name}", "expected a whole number") for name in wrong]
        raise InvalidInput(problems or Problem("payload.request", "not a call request"))
    return job


def _hook_from(data: Mapping[str, Any]) -> PreDialHook | None:
    hook = data.get("pre_dial")
    if hook is None:
        return None
    return PreDialHook(**{**hook, "on_error": OnError(hook["on_error"])})


def _scope_from(data: Mapping[str, Any] | None) -> Scope | None:
    """The scope in a payload (its rates as JSON made them: a dict, or a list of dicts)."""
    if data is None:
        return None
    rates = {name: _rates_from(data.get(name)) for name in _RATE_FIELDS}
    return Scope(**{**data, **rates})


def _rates_from(
    value: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> Rate | Rates | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return Rate(**value)
    return tuple(Rate(**rate) for rate in value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def job_key(data: Mapping[str, Any]) -> str:
    attempt = data.get("attempt_id") if isinstance(data, Mapping) else None
    if _whole(attempt):
        return f"attempt:{attempt}"
    text = json.dumps(data, sort_keys=True, default=repr)
    return f"payload:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


class JobOutcome(StrEnum):
    DONE = "done"  # originate ran: the call was sent, refused, or put back
    WITHDRAWN = "withdrawn"  # not sent: its lease would not cover the call; the lead is due
    SKIPPED = "skipped"  # the attempt had ended, or was accepted before (a redelivery)


@dataclass(frozen=True)
class JobFailure:
    payload: Mapping[str, Any]
    tenant_id: int
    key: str
    cause: str
    tries: int

    def letter(self) -> NewDeadLetter:
        return NewDeadLetter(
            self.tenant_id, ORIGINATE, self.key, self.cause, self.payload, self.tries
        )
