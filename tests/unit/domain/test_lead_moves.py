"""A lead changes status only along the transition table, one lead or a set at a time."""

from __future__ import annotations

import pytest

from dialer.domain.model import Lead
from dialer.domain.statuses import DUE_LEAD, LEAD_TRANSITIONS, TERMINAL_LEAD, LeadStatus, lead_moves
from dialer.errors import Conflict


def lead(status: LeadStatus) -> Lead:
    return Lead(
        id=7, campaign_id=1, contact_id=1, phone="+14155550100", zone_key="UTC", status=status
    )


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, targets in LEAD_TRANSITIONS.items() for t in targets],
)
def test_every_move_in_the_table_is_made(current: LeadStatus, target: LeadStatus) -> None:
    moving = lead(current)
    moving.move_to(target)
    assert moving.status is target


@pytest.mark.parametrize("ended", sorted(TERMINAL_LEAD))
@pytest.mark.parametrize("target", list(LeadStatus))
def test_an_ended_lead_never_moves_again(ended: LeadStatus, target: LeadStatus) -> None:
    moving = lead(ended)
    with pytest.raises(Conflict, match="lead 7"):
        moving.move_to(target)
    assert moving.status is ended


def test_a_lead_is_dialled_only_when_due() -> None:
    with pytest.raises(Conflict):
        lead(LeadStatus.DIALING).move_to(LeadStatus.DIALING)


def test_set_moves_are_checked_against_the_table() -> None:
    assert lead_moves(DUE_LEAD, LeadStatus.CANCELLED) == list(DUE_LEAD)
    assert lead_moves(DUE_LEAD, LeadStatus.SKIPPED) == list(DUE_LEAD)
    with pytest.raises(ValueError, match="cannot move"):
        lead_moves([LeadStatus.DONE], LeadStatus.PENDING)
