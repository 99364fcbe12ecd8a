"""The store's repository of outbound webhooks: tenants' endpoints, the outbox of events
(one delivery per subscribed endpoint, fanned out as the event is written) and the record of
every delivery attempt."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

PENDING = "PENDING"
DELIVERED = "DELIVERED"
DEAD = "DEAD"  # given up after the retry horizon: a dead letter names it


@dataclass
class Endpoint:
    """A tenant's receiver. ``secret`` signs every delivery; after a rotation the previous
    secret signs too until ``previous_until``. ``failures`` counts failed tries in a row;
    while ``paused_until`` is ahead its deliveries wait (the breaker is open)."""

    id: int
    tenant_id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    secret: str
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None
    previous_until: datetime | None = None
    failures: int = 0
    paused_until: datetime | None = None
    disabled_reason: str | None = None

    def secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery made at ``now``."""
        overlap = self.previous_until is not None and now < self.previous_until
        return [self.secret, *([self.previous_secret] if overlap and self.previous_secret else [])]

    def __repr__(self) -> str:  # never the secrets: a repr ends up in logs
        return f"Endpoint(id={self.id}, tenant_id={self.tenant_id}, url={self.url!r})"


@dataclass(frozen=True)
class NewEvent:
    """An event to write to the outbox. ``lead_id``: the lead it concerns, whose next
    sequence number it takes. ``endpoint_id``: to that one endpoint only (a test event),
    else to each enabled endpoint of the tenant subscribed to ``type``."""

    tenant_id: int
    type: str
    data: dict[str, Any]
    lead_id: int | None = None
    endpoint_id: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one endpoint, as a claim hands it out."""

    id: int
    event_id: int
    endpoint_id: int
    tenant_id: int
    type: str
    data: dict[str, Any]
    event_at: datetime
    lead_id: int | None
    sequence: int | None
    tries: int
    status: str = PENDING
    due_at: datetime | None = None
    last_error: str | None = None

    @property
    def message_id(self) -> str:
        """The ``webhook-id``: the same for every try of the event, for receivers to dedupe."""
        return f"evt_{self.event_id}"


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try of a delivery: the answer's status code (None: no answer), latency, error."""

    delivery_id: int
    endpoint_id: int
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None = None
    id: int = 0
    event_id: int = 0
    type: str = field(default="", compare=False)


class Webhooks(Protocol):
    async def add_endpoint(
        self,
        tenant_id: int,
        url: str,
        events: Sequence[str],
        description: str,
        secret: str,
        now: datetime,
    ) -> Endpoint: ...

    async def endpoint(self, endpoint_id: int, *, lock: bool = False) -> Endpoint | None: ...

    async def endpoints(self, tenant_id: int) -> list[Endpoint]:
        """The tenant's endpoints by id."""
        ...

    async def endpoints_by_id(self, endpoint_ids: Sequence[int]) -> dict[int, Endpoint]: ...

    async def save_endpoint(self, endpoint: Endpoint, now: datetime) -> None:
        """Store every field of the endpoint (``updated_at`` becomes ``now``)."""
        ...

    async def subscriptions(self) -> dict[int, set[str]]:
        """Per tenant, the event types its enabled endpoints are subscribed to."""
        ...

    async def record(self, events: Sequence[NewEvent], now: datetime) -> int:
        """Write the events and their deliveries, due at ``now``; a lead's event takes the
        lead's next sequence number. Returns the deliveries written."""
        ...

    async def claim_due(
        self,
        now: datetime,
        leased_until: datetime,
        limit: int,
        skip_endpoints: Collection[int] = (),
    ) -> list[Delivery]:
        """Due PENDING deliveries of enabled endpoints whose breaker is not open (and not in
        ``skip_endpoints``), none behind an earlier PENDING delivery of the same lead to the
        same endpoint; locked (SKIP LOCKED) and leased: due again at ``leased_until`` unless
        settled before."""
        ...

    async def settle(
        self, delivery_id: int, status: str, due_at: datetime, tries: int, error: str | None
    ) -> None:
        """The delivery's outcome: DELIVERED, DEAD, or PENDING again from ``due_at``."""
        ...

    async def delivered(self, delivery_ids: Collection[int], now: datetime) -> None:
        """These deliveries were delivered at ``now``: one more try each, no error."""
        ...

    async def delivery(self, delivery_id: int) -> Delivery | None: ...

    async def add_attempts(self, attempts: Sequence[DeliveryAttempt]) -> None: ...

    async def attempts(self, endpoint_id: int, after_id: int, limit: int) -> list[DeliveryAttempt]:
        """The endpoint's delivery attempts by id, after ``after_id``."""
        ...

    async def latest_attempts(self, endpoint_id: int, limit: int) -> list[DeliveryAttempt]:
        """The endpoint's ``limit`` latest delivery attempts, newest first."""
        ...
