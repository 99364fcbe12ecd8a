"""Caller-ID pools: rotation, local presence, the campaign file keys, and the numbers the
provider actually saw calls come from."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.campaign_document import settings_from_mapping, settings_from_yaml, settings_to_mapping
from dialer.domain.caller_id import choose_caller_id
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.errors import InvalidInput
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from tests.support.engine import attempt_rows
from tests.support.providers import ProviderEngine, dialect_config

POOL = ("+14155550100", "+14155550101", "+12125550100", "+442071838750")
NY = zone_key(("America/New_York",))


def test_rotation_walks_the_pool() -> None:
    picks = [
        choose_caller_id(POOL, "+1", "+13125550100", t, local_presence=False) for t in range(8)
    ]
    assert picks == list(POOL) * 2


def test_local_presence_prefers_the_area_then_the_country() -> None:
    def pick(contact: str, turn: int) -> str:
        return choose_caller_id(POOL, "+1", contact, turn, local_presence=True)

    assert {pick("+14155559999", t) for t in range(4)} == {"+14155550100", "+14155550101"}
    assert {pick("+12125559999", t) for t in range(4)} == {"+12125550100"}
    us_numbers = {"+14155550100", "+14155550101", "+12125550100"}
    assert {pick("+13125559999", t) for t in range(6)} == us_numbers  # no 312 number: country
    assert {pick("+442079460000", t) for t in range(3)} == {"+442071838750"}
    assert {pick("+33142685300", t) for t in range(8)} == set(POOL)  # neither: the whole pool


@given(st.integers(min_value=0, max_value=10**9), st.booleans())
def test_the_pick_is_always_from_the_pool_or_the_fallback(turn: int, local: bool) -> None:
    assert choose_caller_id(POOL, "+1", "+13125550100", turn, local_presence=local) in POOL
    assert choose_caller_id((), "+19995550000", "+1312", turn, local_presence=local) == (
        "+19995550000"
    )


def test_campaign_file_keys_round_trip_and_name_bad_entries() -> None:
    text = """
name: pooled
caller_id: "+14155550100"
caller_ids: ["+1 415 555 0101", "+12125550100"]
local_presence: true
"""
    settings = settings_from_yaml(text)
    assert settings.caller_ids == ("+14155550101", "+12125550100")
    assert settings.local_presence is True
    assert settings_from_mapping(settings_to_mapping(settings)) == settings
    plain = settings_from_yaml('name: plain\ncaller_id: "+14155550100"\n')
    assert "caller_ids" not in settings_to_mapping(plain)
    with pytest.raises(InvalidInput) as caught:
        settings_from_mapping(
            {"name": "x", "caller_id": "+14155550100", "caller_ids": ["+12125550100", "12"]}
        )
    assert [p.location for p in caught.value.problems] == ["caller_ids[1]"]
    with pytest.raises(InvalidInput, match="local_presence needs a pool"):
        settings_from_mapping({"name": "x", "caller_id": "+14155550100", "local_presence": True})


async def test_each_call_leaves_from_a_local_number_of_the_pool(
    provider_engine: ProviderEngine,
) -> None:
    settings = CampaignSettings(
        "local",
        "+19175550000",
        max_concurrency=10,
        retry=RetryPolicy(1, {o: FixedDelays(()) for o in Outcome}),
        caller_ids=POOL[:3],
        local_presence=True,
        ring_timeout=10,
    )
    drafts = [ContactDraft(f"+1415{5551000 + i}", NY) for i in range(6)]
    drafts += [ContactDraft(f"+1212{5551000 + i}", NY) for i in range(4)]
    async with provider_engine("twilio", sim=dialect_config("twilio", talk_mean=1.0)) as e:
        campaign = await e.campaign(settings, drafts)
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 30)
        stats = await e.stats()
        attempts = await attempt_rows(e, campaign.id)
    used = {str(a["phone"]): str(a["caller_id"]) for a in attempts}
    assert all(used[p][:5] == p[:5] for p in used)  # same area code as the contact
    assert Counter(used.values())["+12125550100"] == 4
    assert {used[p] for p in used if p.startswith("+1415")} == {"+14155550100", "+14155550101"}
    seen_by_provider = set(stats["peak_active_by_caller_id"])
    assert seen_by_provider == set(POOL[:3])
