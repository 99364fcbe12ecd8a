"""Provider events written in batches (EventWriter), on the in-memory backends: each event's
outcome is its own, one batch is one unit of work, and a batch that fails as a whole is
written again one event at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dialer.domain.statuses import AttemptStatus, CallProgress, LeadStatus
from dialer.errors import NotFound
from dialer.ports import ProviderEvent, Store, UnitOfWork
from dialer.services.dispatch import Dispatcher
from dialer.services.provider_events import EventWriter
from tests.support.in_process import InProcess, in_process
from tests.unit.services.test_dialling import dispatch_and_send, started


class CountingStore:
    """The in-memory store, counting its units of work; its first ``fail_units`` units fail
    at commit, as a store whose transaction is refused would."""

    def __init__(self, inner: Store, fail_units: int = 0) -> None:
        self.inner = inner
        self.units = 0
        self.fail_units = fail_units

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        self.units += 1
        failing = self.units <= self.fail_units
        async with self.inner.unit() as uow:
            if failing:
                raise RuntimeError("this transaction is refused")
            yield uow

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def calls(p: InProcess, n: int) -> list[tuple[int, str]]:
    await started(p, contacts=n, max_concurrency=n)
    sent = await dispatch_and_send(p)
    assert len(sent) == n
    return sent


def ended(call_id: str) -> ProviderEvent:
    return ProviderEvent(call_id, CallProgress.COMPLETED, duration=12)


async def test_concurrent_events_are_one_unit_of_work_and_each_has_its_outcome() -> None:
    p = in_process()
    sent = await calls(p, 3)
    store = CountingStore(p.services.store)
    p.services.store = store  # type: ignore[assignment]
    writer = EventWriter(p.services)
    (a, call_a), (b, call_b), (c, call_c) = sent
    results = await asyncio.gather(
        writer.write(a, ProviderEvent(call_a, CallProgress.ANSWERED)),
        writer.write(a, ended(call_a)),
        writer.write(a, ended(call_a)),  # delivered twice in the same batch
        writer.write(b, ProviderEvent(call_b, CallProgress.NO_ANSWER)),
        writer.write(c, ended("CA-someone-else")),  # not this attempt's call
        writer.write(10**6, ended(call_c)),  # no such attempt
        return_exceptions=True,
    )
    assert store.units == 2  # the batch, then its answer-time counts (services.answer_times)
    effects = [r.effect if not isinstance(r, BaseException) else type(r) for r in results]
    assert effects == ["ANSWERED", "COMPLETED", "duplicate", "NO_ANSWER", NotFound, NotFound]
    async with p.services.store.unit() as uow:
        attempts = await uow.attempts.get_many([a, b, c])
        leads = await uow.leads.get_many([x.lead_id for x in attempts.values()])
    assert [attempts[i].status for i in (a, b, c)] == [
        AttemptStatus.COMPLETED,
        AttemptStatus.NO_ANSWER,
        AttemptStatus.INITIATED,  # accepted; the stray event changed nothing
    ]
    assert attempts[a].answered_at is not None
    assert sorted(lead.status for lead in leads.values()) == sorted(
        [LeadStatus.DONE, LeadStatus.WAITING_RETRY, LeadStatus.DIALING]
    )
    assert (await p.services.admission.usage()).global_active == 1  # c's call is still live


async def test_a_batch_that_fails_as_a_whole_is_written_one_event_at_a_time() -> None:
    p = in_process()
    sent = await calls(p, 2)
    store = CountingStore(p.services.store, fail_units=1)
    p.services.store = store  # type: ignore[assignment]
    writer = EventWriter(p.services)
    results = await asyncio.gather(*(writer.write(i, ended(call)) for i, call in sent))
    assert [r.effect for r in results] == ["COMPLETED", "COMPLETED"]
    assert store.units == 5  # the batch, then each event alone, each with its answer counts
    assert (await p.services.admission.usage()).global_active == 0
    await Dispatcher(p.services, p.executor).run_once()  # the leads are done: nothing to dial
    assert p.executor.jobs == []
