"""Entities: a campaign moves only along the transition table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.model import Campaign, CampaignSettings, Lead, Rate
from dialer.domain.statuses import CAMPAIGN_TRANSITIONS, CampaignStatus, LeadStatus
from dialer.errors import Conflict, DialerError

C = CampaignStatus


def campaign(status: CampaignStatus = C.DRAFT) -> Campaign:
    return Campaign(7, 1, CampaignSettings("spring", "+14155550100"), status=status)


LEGAL = [(a, b) for a, exits in CAMPAIGN_TRANSITIONS.items() for b in exits]
ILLEGAL = [
    (a, b) for a in CampaignStatus for b in CampaignStatus if b not in CAMPAIGN_TRANSITIONS[a]
]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_move(current: CampaignStatus, target: CampaignStatus) -> None:
    c = campaign(current)
    c.move_to(target)
    assert c.status is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_move_raises_conflict_naming_the_current_state(
    current: CampaignStatus, target: CampaignStatus
) -> None:
    c = campaign(current)
    with pytest.raises(Conflict) as info:
        c.move_to(target)
    assert isinstance(info.value, DialerError)
    message = str(info.value)
    assert f"is {current.value}" in message
    assert str(target.value) in message
    assert "campaign 7" in message
    assert c.status is current  # unchanged


@settings(max_examples=200)
@given(st.lists(st.sampled_from(CampaignStatus), max_size=12))
def test_any_sequence_of_moves_follows_the_table(targets: list[CampaignStatus]) -> None:
    c = campaign()
    for target in targets:
        before = c.status
        try:
            c.move_to(target)
        except Conflict:
            assert target not in CAMPAIGN_TRANSITIONS[before]
            assert c.status is before
        else:
            assert target in CAMPAIGN_TRANSITIONS[before]
            assert c.status is target


def test_campaign_name_comes_from_its_settings() -> None:
    assert campaign().name == "spring"


def test_rate_interval() -> None:
    assert Rate(per_second=10, burst=20).interval == pytest.approx(0.1)
    assert Rate(per_second=0.5, burst=1).interval == pytest.approx(2.0)


def test_lead_is_terminal_only_in_a_terminal_status() -> None:
    lead = Lead(1, 1, 1, "+14155550100", "America/Los_Angeles")
    assert lead.status is LeadStatus.PENDING
    assert not lead.is_terminal
    for status, terminal in [(LeadStatus.WAITING_RETRY, False), (LeadStatus.EXHAUSTED, True)]:
        lead.status = status
        assert lead.is_terminal is terminal
