"""The store's answer-time counts: attempts and answers per contact-local hour of the week,
for a tenant, each campaign and each contact (domain.answer_times smooths and uses them)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from dialer.domain.answer_times import Counts

EVERY = 0  # the campaign (or contact) part of a key that counts over all of them


@dataclass(frozen=True)
class AnswerKey:
    """One row of counts: a tenant's (campaign and contact EVERY), a campaign's (contact
    EVERY) or a contact's across the tenant's campaigns (campaign EVERY)."""

    tenant_id: int
    campaign_id: int
    contact_id: int
    hour: int  # of the week, contact-local: 0 is Monday 00:00


@dataclass(frozen=True)
class AnswerCounts:
    tenant: Counts
    campaign: Counts
    contacts: Mapping[int, Counts]


class AnswerStats(Protocol):
    async def add(self, increments: Mapping[AnswerKey, tuple[int, int]]) -> None:
        """Add (attempts, answered) to each key's counts, creating it at zero first."""
        ...

    async def counts(
        self,
        tenant_id: int,
        campaign_id: int,
        contact_ids: Collection[int],
        *,
        levels: bool = True,
    ) -> AnswerCounts:
        """The counts of the tenant, the campaign (both empty unless ``levels``) and each of
        the contacts."""
        ...
