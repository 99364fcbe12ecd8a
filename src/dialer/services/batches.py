"""Origination batches, as a worker runs them: each job sent at most once, failures retried
in layers, and what still fails recorded in the dead-letter table.

A job is an ``Origination`` as plain JSON (``job_payload`` / ``job_from_payload``): what a
Celery task carries and what a dead letter keeps. Which layer retries what:

* the provider certainly did not create the call (5xx, refused connection, short 429):
  ``RetryingTelephony`` retries the create in place; once that is spent, ``originate`` voids
  the attempt and the lead is due again later, attempts unspent (the dispatcher's layer);
* the outcome is unknown (a timeout after sending): never retried (lookup, callbacks, reaper);
* a transient database error (serialization failure, deadlock, lost connection): the job is
  run again here, up to ``JobPolicy.retries`` times. Running it again is safe: the sent
  marker is taken before any request, so a job that got as far as the provider finds it set
  and sends nothing;
* anything else, or a transient error that outlasts the retries: a dead letter (kind
  ``originate``) with the cause, the job and the number of tries.

A job redelivered by the broker (a worker died, a task was retried) is the same job: the
sent marker, the attempt's status and the dead letters' key make every step idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dialer.domain.model import CallAttempt
from dialer.domain.phone import mask
from dialer.domain.statuses import AttemptStatus
from dialer.errors import InvalidInput, NotFound
from dialer.ports import CallRequest, Origination
from dialer.ports.jobs import (
    JobFailure,
    JobOutcome,
    job_from_payload,
    job_key,
    job_payload,
)
from dialer.services.calls import MAX_SEND_WAIT, originate, withdraw
from dialer.services.context import Services
from dialer.services.pre_dial import ask_hook
from dialer.services.retrying import backoff_delay

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ one job


JobStep = Callable[[Services, Origination], Awaitable[JobOutcome]]


def _never(_: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class JobPolicy:
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubled at each
    in_flight: int = 50  # jobs of one batch in progress at once
    transient: Callable[[BaseException], bool] = _never  # worth running the job again
    rng: random.Random = field(default_factory=random.Random)


async def run_job(
    services: Services, data: Mapping[str, Any], policy: JobPolicy
) -> JobOutcome | JobFailure:
    try:
        job = job_from_payload(data)
    except InvalidInput as exc:  # tenant 0: none can be read from it; operators see it
        return JobFailure(data, 0, job_key(data), f"malformed job: {exc}", 1)
    return await run_origination(services, job, policy, data)


async def run_origination(
    services: Services,
    job: Origination,
    policy: JobPolicy,
    data: Mapping[str, Any] | None = None,
    *,
    run: JobStep | None = None,
) -> JobOutcome | JobFailure:
    """Run one job (``run``: a worker's checks, then ``originate``), again after a transient
    failure; what still fails is a ``JobFailure`` (its payload ``data``, or the job's own when
    it came as an object: inline execution)."""
    step = run or _run_once
    for tries in range(1, policy.retries + 2):
        try:
            return await step(services, job)
        except Exception as exc:  # every failure of a job ends here: retried or recorded
            if tries <= policy.retries and policy.transient(exc):
                log.info("attempt %s: transient failure (%r); again", job.attempt_id, exc)
                await asyncio.sleep(backoff_delay(policy.backoff, tries - 1, policy.rng))
                continue
            log.error("attempt %s to %s failed: %r", job.attempt_id, mask(job.request.to), exc)
            payload = job_payload(job) if data is None else data
            cause = f"{type(exc).__name__}: {exc}"
            return JobFailure(payload, job.tenant_id, job_key(payload), cause, tries)
    raise AssertionError("unreachable: the last try returns")


async def originate_now(services: Services, job: Origination) -> JobOutcome:
    """Inline execution's step: the job runs in the process that admitted it, at once, as it
    always has; a worker's checks (``_run_once``) are for jobs that waited in a broker."""
    await _ask_then_originate(services, job)
    return JobOutcome.DONE


async def _run_once(services: Services, job: Origination) -> JobOutcome:
    attempt = await services.writes.read(job.attempt_id)
    if attempt is None:
        raise NotFound(f"attempt {job.attempt_id} does not exist")
    if attempt.status is not AttemptStatus.QUEUED:
        return JobOutcome.SKIPPED  # ended, or accepted by the provider: a redelivery
    if not _lease_covers_call(services, attempt, job):
        cause = "not sent: its lease would end before the call could"
        return JobOutcome.WITHDRAWN if await withdraw(services, job, cause) else JobOutcome.SKIPPED
    await _ask_then_originate(services, job)
    return JobOutcome.DONE


async def _ask_then_originate(services: Services, job: Origination) -> None:
    """The campaign's pre-dial hook first, if it has one: its answer may change the call, or
    skip or defer the lead (then nothing is sent, and the lease is released)."""
    if job.pre_dial is not None:
        asked = await ask_hook(services, job)
        if asked is None:
            return
        job = asked
    await originate(services, job)


def _lease_covers_call(services: Services, attempt: CallAttempt, job: Origination) -> bool:
    """A job that waited long in the queue may hold a lease too short for a whole call: the
    slot could then be handed to another call while this one still rings. The call may yet
    wait for its pre-dial hook and its send slot (``originate``): those count too."""
    if attempt.lease_expires_at is None:
        return False
    hook = job.pre_dial.timeout if job.pre_dial is not None else 0.0
    request = job.request
    longest = timedelta(seconds=request.ring_timeout + request.time_limit + MAX_SEND_WAIT + hook)
    return attempt.lease_expires_at - services.clock.now() >= longest


def job_of(attempt: CallAttempt) -> Origination:
    """A job rebuilt from its attempt, enough to withdraw it (not to send it)."""
    request = CallRequest(attempt.id, attempt.phone, attempt.caller_id, "", 0, 0)
    return Origination(
        attempt.id,
        attempt.lead_id,
        attempt.campaign_id,
        attempt.tenant_id,
        attempt.lease_id,
        request,
    )


# ------------------------------------------------------------------ a batch


@dataclass
class BatchReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # JobOutcome values, "failed"
    failures: list[JobFailure] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.outcomes["failed"]


async def run_batch(
    services: Services, jobs: Sequence[Mapping[str, Any]], policy: JobPolicy
) -> BatchReport:
    """Run the jobs, ``policy.in_flight`` at a time; record the failures as dead letters.

    Raises only when the dead letters cannot be stored: the caller then retries the whole
    batch (idempotent), so a failure is never dropped unrecorded."""
    slots = asyncio.Semaphore(policy.in_flight)

    async def one(data: Mapping[str, Any]) -> JobOutcome | JobFailure:
        async with slots:
            return await run_job(services, data, policy)

    report = BatchReport()
    for outcome in await asyncio.gather(*(one(data) for data in jobs)):
        if isinstance(outcome, JobFailure):
            report.failures.append(outcome)
            report.outcomes["failed"] += 1
        else:
            report.outcomes[outcome.value] += 1
    if report.failures:
        await record_failures(services, report.failures)
    return report


async def record_failures(services: Services, failures: Sequence[JobFailure]) -> None:
    now = services.clock.now()
    async with services.store.unit() as uow:
        for failure in failures:
            letter = failure.letter()
            await uow.cluster.add_dead_letter(letter, now)
            await services.outbox.dead_letter_added(uow, letter, now)
        await uow.commit()


async def withdraw_all(services: Services, jobs: Sequence[Origination], cause: str) -> int:
    """Withdraw every job nobody sent (the broker refused their task); how many were."""
    withdrawn = 0
    for job in jobs:
        withdrawn += await withdraw(services, job, cause)
    return withdrawn
