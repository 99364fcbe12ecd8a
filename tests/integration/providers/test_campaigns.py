"""A campaign run to its end through each provider's wire format: the adapter, the signed
webhooks and the status mapping together, counted on the simulator's side."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.statuses import AttemptStatus, CampaignStatus, LeadStatus
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.simulator.config import Outcome as SimOutcome
from tests.support.engine import attempt_rows, lead_rows
from tests.support.providers import DIALECTS, ProviderEngine, dialect_config

NY = zone_key(("America/New_York",))
EXPECTED = {
    SimOutcome.ANSWER: AttemptStatus.COMPLETED,
    SimOutcome.NO_ANSWER: AttemptStatus.NO_ANSWER,
    SimOutcome.BUSY: AttemptStatus.BUSY,
    SimOutcome.FAILED: AttemptStatus.FAILED,
    SimOutcome.DROPPED: AttemptStatus.DISCONNECTED,
}


def one_attempt(name: str, cap: int = 5) -> CampaignSettings:
    rules = {o: FixedDelays(()) for o in Outcome}
    return CampaignSettings(
        name, "+14155550100", max_concurrency=cap, retry=RetryPolicy(1, rules), ring_timeout=10
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_every_outcome_is_mapped_through_each_provider(
    provider_engine: ProviderEngine, dialect: str
) -> None:
    numbers = {f"+1212555{1000 + i}": outcome for i, outcome in enumerate(EXPECTED)}
    overrides = {number: outcome.value for number, outcome in numbers.items()}
    sim = dialect_config(dialect, outcome_overrides=overrides, duplicate_callback_rate=0.3)
    async with provider_engine(dialect, sim=sim) as e:
        drafts = [ContactDraft(number, NY) for number in numbers]
        campaign = await e.campaign(one_attempt(f"via-{dialect}"), drafts)
        final = await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 30)
        stats = await e.stats()
        attempts = await attempt_rows(e, campaign.id)
        leads = await lead_rows(e, campaign.id)
    assert final.status is CampaignStatus.COMPLETED
    by_number = {a["phone"]: AttemptStatus(str(a["status"])) for a in attempts}
    assert by_number == {number: EXPECTED[outcome] for number, outcome in numbers.items()}
    assert all(a["provider_call_id"] for a in attempts)
    assert Counter(LeadStatus(str(lead["status"])) for lead in leads)[LeadStatus.DONE] == 1
    assert stats["calls_created"] == len(numbers)
    assert stats["repeated_originations"] == 0
    assert stats["callbacks_failed"] == 0  # every signed callback was accepted
