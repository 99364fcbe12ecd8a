"""The store's repository of money: the rate cards (every version kept) and the charge of
each call and message, which the rollups sum."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from dialer.domain.costs import CostChannel, RateCard


@dataclass(frozen=True)
class NewCharge:
    """What one call (``subject_id``: its attempt) or message cost, by the card ``card_id``."""

    tenant_id: int
    campaign_id: int
    channel: CostChannel
    subject_id: int
    amount: Decimal
    currency: str
    card_id: int
    day: date  # the UTC day it ended on: what the rollups group by
    created_at: datetime
    provider_amount: Decimal | None = None  # the provider's own price, when it gave one


@dataclass(frozen=True)
class UnpricedCall:
    """A call Dialer charged whose provider has not given its own price yet."""

    attempt_id: int
    provider_call_id: str
    currency: str  # the charge's: a provider price in another currency is not comparable
    ended_at: datetime  # when it was charged, as it ended


class CostGrouping(StrEnum):
    CAMPAIGN = "campaign"
    DAY = "day"
    CHANNEL = "channel"


@dataclass(frozen=True)
class CostQuery:
    tenant_id: int
    group_by: tuple[CostGrouping, ...] = (CostGrouping.CAMPAIGN,)
    campaign_id: int | None = None
    since: date | None = None  # first day included (UTC)
    until: date | None = None  # last day included (UTC)


@dataclass(frozen=True)
class CostRow:
    """One group's sum. The fields not grouped by are None."""

    currency: str
    amount: Decimal
    count: int  # the calls and messages charged
    provider_amount: Decimal | None  # the provider's prices summed, where it gave them
    campaign_id: int | None = None
    day: date | None = None
    channel: CostChannel | None = None


class Costs(Protocol):
    async def add_card(self, card: RateCard, now: datetime) -> RateCard:
        """Store ``card`` as the next version of its provider's card for its channel."""
        ...

    async def cards(
        self, provider: str | None = None, channel: CostChannel | None = None
    ) -> list[RateCard]:
        """Every version of the matching cards, oldest first."""
        ...

    async def record_charges(self, charges: Sequence[NewCharge]) -> None:
        """Keep each charge once: a second one for the same call or message is ignored."""
        ...

    async def charges_of(
        self, channel: CostChannel, subject_ids: Collection[int]
    ) -> dict[int, NewCharge]: ...

    async def unpriced_calls(
        self, provider: str, ended_after: datetime, ended_before: datetime, limit: int
    ) -> list[UnpricedCall]:
        """Calls charged by ``provider``'s card from ``ended_after`` to ``ended_before`` (both
        included), with a provider call id and no provider price yet: at most ``limit``, the
        oldest first."""
        ...

    async def set_provider_amounts(
        self, channel: CostChannel, amounts: Mapping[int, Decimal]
    ) -> None:
        """Keep the provider's own price beside each charge (by call or message id) that has
        none yet; one it has already is left as it is."""
        ...

    async def spent(
        self,
        currency: str,
        *,
        campaign_id: int | None = None,
        tenant_id: int | None = None,
        since: datetime | None = None,
    ) -> int:
        """Millionths of ``currency`` charged to the campaign (or tenant) from ``since``."""
        ...

    async def rollup(self, query: CostQuery) -> list[CostRow]:
        """The tenant's charges summed per group (and per currency), in group order."""
        ...
