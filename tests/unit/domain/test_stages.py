"""The older vocabulary (stages) derived from lead and attempt statuses, as docs/design.md
maps it, and its inverse (the pairs a store filters on)."""

from __future__ import annotations

import pytest

from dialer.domain.stages import Stage, attempt_stage, lead_stage, lead_states_in
from dialer.domain.statuses import AttemptStatus, LeadStatus

A, L = AttemptStatus, LeadStatus


@pytest.mark.parametrize(
    ("attempt", "stage"),
    [
        (A.QUEUED, Stage.INITIATED),
        (A.INITIATED, Stage.INITIATED),
        (A.RINGING, Stage.INITIATED),
        (A.ANSWERED, Stage.PICKED),
        (A.NO_ANSWER, Stage.RNR),
        (A.DISCONNECTED, Stage.DISCONNECTED),
        (A.BUSY, Stage.DISCONNECTED),
        (A.CANCELED, Stage.DISCONNECTED),
        (A.FAILED, Stage.FAILED),
        (A.UNKNOWN, Stage.FAILED),
        (A.COMPLETED, Stage.COMPLETED),
    ],
)
def test_each_attempt_status_has_its_documented_stage(attempt: A, stage: Stage) -> None:
    assert attempt_stage(attempt) is stage


@pytest.mark.parametrize(
    ("lead", "last", "stage"),
    [
        (L.PENDING, None, None),
        (L.PENDING, A.CANCELED, None),  # refused before the provider created it: not called
        (L.DIALING, A.RINGING, Stage.INITIATED),
        (L.DIALING, A.ANSWERED, Stage.PICKED),
        (L.WAITING_RETRY, A.NO_ANSWER, Stage.RETRYING),
        (L.WAITING_RETRY, A.UNKNOWN, Stage.RETRYING),
        (L.DONE, A.COMPLETED, Stage.COMPLETED),
        (L.EXHAUSTED, A.NO_ANSWER, Stage.RNR),
        (L.EXHAUSTED, A.BUSY, Stage.DISCONNECTED),
        (L.FAILED, A.FAILED, Stage.FAILED),
        (L.FAILED, A.DISCONNECTED, Stage.DISCONNECTED),
        (L.SKIPPED, None, None),
        (L.CANCELLED, None, None),
        (L.CANCELLED, A.NO_ANSWER, Stage.RNR),  # the last call's word stands
    ],
)
def test_a_leads_stage_comes_from_its_status_and_last_attempt(
    lead: L, last: A | None, stage: Stage | None
) -> None:
    assert lead_stage(lead, last) is stage


@pytest.mark.parametrize("stage", list(Stage))
def test_the_pairs_of_a_stage_are_exactly_those_that_map_to_it(stage: Stage) -> None:
    pairs = lead_states_in(stage)
    for lead in L:
        for last in (None, *A):
            expected = lead_stage(lead, last) is stage
            assert (last in pairs.get(lead, frozenset())) is expected, (lead, last)


def test_retrying_is_a_lead_state_whatever_its_last_call() -> None:
    assert lead_states_in(Stage.RETRYING) == {L.WAITING_RETRY: frozenset({None, *A})}
