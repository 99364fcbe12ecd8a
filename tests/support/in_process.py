"""Services on the in-memory backends, for unit tests: the memory store, in-process admission,
a manual clock, and a provider double that answers in this process (no sockets, no sleeps).

The provider double records every create, so a test counts calls from the provider's side;
events are handed to the services by the test, as the provider's callbacks would be."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dialer.adapters.admission.memory import MemoryAdmission
from dialer.adapters.clock import ManualClock
from dialer.adapters.store.memory import MemoryStore
from dialer.domain.machines import Voicemail
from dialer.domain.statuses import CallProgress
from dialer.ports import CallPrice, CallRequest, Origination, ProviderEvent
from dialer.services.context import Limits, Services
from tests.support.clock import T0


@dataclass
class InProcessProvider:
    """A provider that creates every call it is asked for and remembers the requests."""

    name: str = "twilio"
    created: list[CallRequest] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    voicemails: list[tuple[str, Voicemail]] = field(default_factory=list)
    leaves_voicemail: bool = True
    reports_prices: bool = True
    prices: dict[str, CallPrice] = field(default_factory=dict)  # what call_price reports

    async def create_call(self, request: CallRequest) -> str:
        self.created.append(request)
        return f"CA{len(self.created):032d}"

    async def fetch_call(self, provider_call_id: str) -> ProviderEvent:
        return ProviderEvent(provider_call_id, CallProgress.QUEUED)

    async def find_call(self, request: CallRequest, since: datetime) -> str | None:
        return None

    async def hang_up(self, provider_call_id: str) -> None:
        self.hung_up.append(provider_call_id)

    async def call_price(self, provider_call_id: str) -> CallPrice | None:
        return self.prices.get(provider_call_id)

    async def leave_voicemail(self, provider_call_id: str, voicemail: Voicemail) -> None:
        self.voicemails.append((provider_call_id, voicemail))

    async def aclose(self) -> None:
        return None


class KeptOriginations:
    """The executor port, keeping what it is given: the test decides when a job is sent."""

    def __init__(self) -> None:
        self.jobs: list[Origination] = []

    async def submit(self, batch: Sequence[Origination]) -> None:
        self.jobs.extend(batch)

    async def drain(self) -> None:
        return None

    def take(self) -> list[Origination]:
        jobs, self.jobs = self.jobs, []
        return jobs


@dataclass
class InProcess:
    services: Services
    clock: ManualClock
    provider: InProcessProvider
    executor: KeptOriginations


def in_process(global_max: int = 100, lease_ttl: int = 600) -> InProcess:
    clock = ManualClock(T0)
    provider = InProcessProvider()
    services = Services(
        store=MemoryStore(),
        admission=MemoryAdmission(clock.timestamp),
        telephony=provider,
        clock=clock,
        limits=Limits(global_max=global_max, lease_ttl=lease_ttl),
        webhook_base="http://dialer.test",
        rng=random.Random(7),
    )
    return InProcess(services, clock, provider, KeptOriginations())
