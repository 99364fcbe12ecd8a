"""Origination batches as a worker runs them, against the simulator over HTTP: each call
sent at most once however often its job is delivered, failures retried in the right layer,
and what still fails recorded as a dead letter."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.transient import is_transient_database_error
from dialer.domain.statuses import AttemptStatus, LeadStatus
from dialer.ports import CallRequest, ProviderEvent, Telephony
from dialer.ports.jobs import JobOutcome, job_payload
from dialer.services.batches import run_batch
from dialer.services.dlq import list_dead_letters
from dialer.services.retrying import RetryingTelephony
from tests.support.cluster import POLICY, attempts_of, queued_jobs
from tests.support.engine import Engine, EngineFactory, sim_config

BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])  # else PostgreSQL only


async def lead_rows(e: Engine, campaign_id: int) -> list[tuple[LeadStatus, int]]:
    async with e.store.unit() as uow:
        counts = await uow.views.lead_counts(campaign_id)
    return sorted((status, n) for status, n in counts.items() if n)


@BOTH
async def test_a_batch_delivered_again_dials_each_call_once(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        _, jobs = await queued_jobs(e, 6)
        payloads = [job_payload(job) for job in jobs]
        twice = await asyncio.gather(*(run_batch(services, payloads, POLICY) for _ in range(2)))
        later = await run_batch(services, payloads, POLICY)
        stats = await e.stats()
    assert stats["calls_created"] == 6
    assert stats["repeated_originations"] == 0
    assert sum(r.processed for r in twice) == 12
    assert later.outcomes == {JobOutcome.SKIPPED.value: 6}  # every attempt was accepted


async def test_a_create_not_performed_is_retried_in_place(engine: EngineFactory) -> None:
    """5xx on every first try: each job waits, tries again under the same lease, and goes
    through once the provider recovers. No lead is put back, no call is made twice."""
    async with engine(sim=sim_config(error_rate=1.0)) as e:
        services = e.runtime.services
        services.telephony = RetryingTelephony(services.telephony, retries=3, backoff=0.5)
        campaign, jobs = await queued_jobs(e, 4)
        batch = asyncio.create_task(run_batch(services, [job_payload(j) for j in jobs], POLICY))
        for _ in range(200):  # every job failed once, and waits for its retry
            if (await e.stats())["rejected_5xx"] >= 4:
                break
            await asyncio.sleep(0.01)
        await e.sim.post("/_sim/config", json={"error_rate": 0.0})
        report = await batch
        stats = await e.stats()
        attempts = await attempts_of(e.store, campaign.id)
    assert stats["rejected_5xx"] == 4
    assert stats["calls_created"] == 4
    assert stats["repeated_originations"] == 0
    assert report.outcomes == {JobOutcome.DONE.value: 4}
    assert all(row["provider_call_id"] for row in attempts)
    assert len(attempts) == 4  # the same attempts: nothing voided, nothing re-admitted


async def test_a_provider_still_refusing_puts_the_lead_back(engine: EngineFactory) -> None:
    """Retries spent: the attempt is void and the lead due again, its attempts unspent (the
    dispatcher's layer retries it); nothing is dead-lettered: nothing was lost."""
    async with engine(sim=sim_config(error_rate=1.0)) as e:
        services = e.runtime.services
        services.telephony = RetryingTelephony(services.telephony, retries=3, backoff=0.01)
        campaign, jobs = await queued_jobs(e, 3)
        report = await run_batch(services, [job_payload(j) for j in jobs], POLICY)
        stats = await e.stats()
        attempts = await attempts_of(e.store, campaign.id)
        leads = await lead_rows(e, campaign.id)
        letters = await list_dead_letters(e.store, None)
    assert stats["rejected_5xx"] == 3 * 4  # the first try and three retries each
    assert stats["calls_created"] == 0
    assert report.outcomes == {JobOutcome.DONE.value: 3}
    assert {row["status"] for row in attempts} == {AttemptStatus.CANCELED.value}
    assert all(row["hangup_cause"].startswith("not sent") for row in attempts)
    assert leads == [(LeadStatus.PENDING, 3)]
    assert letters == []


async def test_an_unknown_outcome_is_never_retried(engine: EngineFactory) -> None:
    """The create timed out after reaching the provider: no retry, the call is found and
    adopted by a lookup instead."""
    slow = sim_config(response_delay=300.0)  # simulated seconds: 3 s real, past the timeout
    async with engine(sim=slow, provider_timeout_seconds=0.5) as e:
        services = e.runtime.services
        services.telephony = RetryingTelephony(services.telephony, retries=3, backoff=0.01)
        campaign, jobs = await queued_jobs(e, 3)
        await run_batch(services, [job_payload(j) for j in jobs], POLICY)
        stats = await e.stats()
        attempts = await attempts_of(e.store, campaign.id)
    assert stats["calls_created"] == 3
    assert stats["repeated_originations"] == 0
    assert all(row["provider_call_id"] for row in attempts)  # adopted from the lookup


@BOTH
async def test_what_still_fails_is_a_dead_letter_once(engine: EngineFactory) -> None:
    async with engine() as e:
        services = e.runtime.services
        _, [job] = await queued_jobs(e, 1)
        ghost = job_payload(dataclasses.replace(job, attempt_id=10**9, tenant_id=job.tenant_id))
        garbage = {"attempt_id": "x", "request": {}}
        jobs = [job_payload(job), ghost, garbage]
        first = await run_batch(services, jobs, POLICY)
        again = await run_batch(services, jobs, POLICY)  # the broker delivers it again
        letters = await list_dead_letters(e.store, None)
        stats = await e.stats()
    assert first.outcomes == {JobOutcome.DONE.value: 1, "failed": 2}
    assert again.outcomes == {JobOutcome.SKIPPED.value: 1, "failed": 2}
    assert stats["calls_created"] == 1
    by_cause = {letter.cause.split(":")[0]: letter for letter in letters}
    assert sorted(by_cause) == ["NotFound", "malformed job"]
    assert by_cause["NotFound"].cause == f"NotFound: attempt {10**9} does not exist"
    assert by_cause["NotFound"].payload == ghost
    assert by_cause["NotFound"].tenant_id == job.tenant_id
    assert by_cause["malformed job"].payload == garbage
    assert all(letter.attempts == 2 for letter in letters)  # one letter each, tried twice


async def test_a_job_whose_lease_cannot_cover_the_call_is_withdrawn(
    engine: EngineFactory,
) -> None:
    """A job that waited too long in the queue: not sent, the lead due again."""
    async with engine() as e:
        campaign, [job] = await queued_jobs(e, 1)
        late = dataclasses.replace(job, request=dataclasses.replace(job.request, time_limit=10**6))
        report = await run_batch(e.runtime.services, [job_payload(late)], POLICY)
        again = await run_batch(e.runtime.services, [job_payload(job)], POLICY)
        stats = await e.stats()
        [attempt] = await attempts_of(e.store, campaign.id)
        leads = await lead_rows(e, campaign.id)
    assert report.outcomes == {JobOutcome.WITHDRAWN.value: 1}
    assert again.outcomes == {JobOutcome.SKIPPED.value: 1}  # the original job finds it void
    assert stats["calls_created"] == 0
    assert attempt["status"] == AttemptStatus.CANCELED.value
    assert leads == [(LeadStatus.PENDING, 1)]


# ------------------------------------------------------------------ database errors


async def serialization_failure(url: str) -> DBAPIError:
    """A real one: two SERIALIZABLE transactions that read and write the same row."""
    engine = make_engine(url)
    try:
        async with engine.connect() as setup:
            await setup.execute(text("CREATE TABLE IF NOT EXISTS t_serial (n int)"))
            await setup.execute(text("DELETE FROM t_serial"))
            await setup.execute(text("INSERT INTO t_serial VALUES (1)"))
            await setup.commit()
        async with engine.connect() as a, engine.connect() as b:
            for conn in (a, b):
                await conn.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
                await conn.execute(text("SELECT sum(n) FROM t_serial"))
            await a.execute(text("INSERT INTO t_serial VALUES (2)"))
            await b.execute(text("INSERT INTO t_serial VALUES (3)"))
            await a.commit()
            try:
                await b.commit()
            except DBAPIError as exc:
                return exc
            raise AssertionError("PostgreSQL let both transactions commit")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS t_serial"))
        await engine.dispose()


async def unique_violation(url: str) -> DBAPIError:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMP TABLE t_unique (n int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t_unique VALUES (1)"))
            try:
                await conn.execute(text("INSERT INTO t_unique VALUES (1)"))
            except DBAPIError as exc:
                return exc
            raise AssertionError("the duplicate was accepted")
    finally:
        await engine.dispose()


class FailsOnce:
    """The provider adapter, except that its first create raises ``error`` before sending:
    a failure between the sent marker and the provider's answer."""

    def __init__(self, inner: Telephony, error: BaseException) -> None:
        self.inner, self.error, self.name = inner, error, inner.name
        self.failed = False

    async def create_call(self, request: CallRequest) -> str:
        if not self.failed:
            self.failed = True
            raise self.error
        return await self.inner.create_call(request)

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        return await self.inner.fetch_call(provider_call_id)

    async def find_call(self, request: CallRequest, since: Any) -> str | None:
        return await self.inner.find_call(request, since)

    async def hang_up(self, provider_call_id: str) -> None:
        await self.inner.hang_up(provider_call_id)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def pg_errors(database_url: str) -> AsyncIterator[tuple[DBAPIError, DBAPIError]]:
    return await serialization_failure(database_url), await unique_violation(database_url)


async def test_database_conflicts_are_transient_and_bugs_are_not(
    pg_errors: tuple[DBAPIError, DBAPIError],
) -> None:
    conflict, violation = pg_errors
    assert getattr(conflict.orig, "sqlstate", None) == "40001"
    assert is_transient_database_error(conflict)
    assert not is_transient_database_error(violation)
    assert not is_transient_database_error(ValueError("not a database error"))


async def test_a_job_run_again_after_a_transient_failure_never_dials_twice(
    engine: EngineFactory, pg_errors: tuple[DBAPIError, DBAPIError]
) -> None:
    conflict, violation = pg_errors
    policy = dataclasses.replace(POLICY, transient=is_transient_database_error)
    async with engine() as e:
        services = e.runtime.services
        real = services.telephony
        _campaign, jobs = await queued_jobs(e, 2)
        services.telephony = FailsOnce(real, conflict)
        retried = await run_batch(services, [job_payload(jobs[0])], policy)
        services.telephony = FailsOnce(real, violation)
        failed = await run_batch(services, [job_payload(jobs[1])], policy)
        letters = await list_dead_letters(e.store, None)
        stats = await e.stats()
    # Run again, the first job found its sent marker set: no second request, no letter.
    assert retried.outcomes == {JobOutcome.DONE.value: 1}
    assert stats["calls_created"] == 0
    # The unique violation is no conflict: one try, then a dead letter with its cause.
    assert failed.outcomes == {"failed": 1}
    [letter] = letters
    assert letter.attempts == 1
    assert letter.cause.startswith("IntegrityError")
    assert letter.payload["attempt_id"] == jobs[1].attempt_id
