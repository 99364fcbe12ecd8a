"""Best time to call: every ended attempt is counted by the contact-local hour of the week
it was made in, and by whether a person answered, for its tenant, campaign and contact (in a
transaction of its own, right after the one that ended it). A retry is then placed at the
most promising hour after the policy's delay (domain.answer_times), unless the policy opts
out (``retry.best_time: false``). The tenant's and campaign's counts change slowly and are
read at most once a minute per process; a contact's are read with each of its retries."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dialer.domain.answer_times import AnswerHistory, Counts, best_moment, hour_of_week
from dialer.domain.model import CallAttempt, Campaign, Lead
from dialer.domain.phone import zones_of_key
from dialer.errors import DialerError
from dialer.ports import Store, UnitOfWork
from dialer.ports.answer_store import EVERY, AnswerKey

log = logging.getLogger(__name__)

LEVELS_FRESH_FOR = 60.0  # seconds a tenant's and campaign's counts are reused


@dataclass
class AnswerLevels:
    """Tenant and campaign counts as this process last read them."""

    read: dict[tuple[int, int], tuple[float, Counts, Counts]] = field(default_factory=dict)

    async def of(self, uow: UnitOfWork, lead: Lead, campaign: Campaign) -> AnswerHistory:
        key = (campaign.tenant_id, campaign.id)
        cached = self.read.get(key)
        fresh = cached is not None and time.monotonic() - cached[0] < LEVELS_FRESH_FOR
        counts = await uow.answers.counts(
            campaign.tenant_id, campaign.id, [lead.contact_id], levels=not fresh
        )
        if not fresh:
            self.read[key] = (time.monotonic(), counts.tenant, counts.campaign)
        _, tenant, of_campaign = self.read[key]
        return AnswerHistory(tenant, of_campaign, counts.contacts.get(lead.contact_id, {}))


def answered_by_a_person(attempt: CallAttempt) -> bool:
    machine = attempt.answered_by is not None and attempt.answered_by.is_machine
    return attempt.answered_at is not None and not machine


def increments(
    ended: Sequence[CallAttempt], leads: Mapping[int, Lead]
) -> dict[AnswerKey, tuple[int, int]]:
    """What the attempts add to the counts: one attempt (and its answer) per level, at the
    contact-local hour it was made. An attempt the provider never took counts for nothing."""
    attempts: Counter[AnswerKey] = Counter()
    answered: Counter[AnswerKey] = Counter()
    for attempt in ended:
        lead = leads.get(attempt.lead_id)
        made = attempt.initiated_at or attempt.created_at
        if lead is None or made is None or attempt.provider_call_id is None:
            continue
        hour = hour_of_week(made, zones_of_key(lead.zone_key)[0])
        tenant, campaign = attempt.tenant_id, attempt.campaign_id
        for key in (
            AnswerKey(tenant, EVERY, EVERY, hour),
            AnswerKey(tenant, campaign, EVERY, hour),
            AnswerKey(tenant, EVERY, lead.contact_id, hour),
        ):
            attempts[key] += 1
            answered[key] += answered_by_a_person(attempt)
    return {key: (attempts[key], answered[key]) for key in attempts}


async def add_counts(store: Store, counted: Mapping[AnswerKey, tuple[int, int]]) -> None:
    """Add the counts in a transaction of their own, after the events that made them are
    committed: the tenant's row for an hour is shared by every call of that hour, and holding
    its lock inside the events' transaction would make every listener wait on the others.
    Counts are statistics: a batch lost to a failure here is logged, not retried."""
    if not counted:
        return
    try:
        async with store.unit() as uow:
            await uow.answers.add(counted)
            await uow.commit()
    except DialerError as exc:
        log.warning("answer-time counts of %d hours not added (%s)", len(counted), exc)


async def best_retry(
    uow: UnitOfWork, levels: AnswerLevels, campaign: Campaign, lead: Lead, earliest: datetime
) -> datetime | None:
    """The most promising instant for the lead's retry from ``earliest`` (already inside
    its window) on."""
    history = await levels.of(uow, lead, campaign)
    zones = zones_of_key(lead.zone_key)
    window = lead.window(campaign.settings.window)
    return best_moment(history.rates(), earliest, window, zones, known=history.known_hours())
