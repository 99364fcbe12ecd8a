"""The status tables and the provider-event rule: terminal means final, every status can be
reached, and duplicated or out-of-order provider events never move an attempt backwards."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.statuses import (
    ATTEMPT_TRANSITIONS,
    CAMPAIGN_TRANSITIONS,
    LEAD_TRANSITIONS,
    LIVE_ATTEMPT,
    TERMINAL_ATTEMPT,
    TERMINAL_CAMPAIGN,
    TERMINAL_LEAD,
    AttemptStatus,
    CallProgress,
    CampaignStatus,
    LeadStatus,
    attempt_status_after,
    can_move_campaign,
    can_move_lead,
)

A = AttemptStatus
P = CallProgress
S = TypeVar("S")

REAL_ENDINGS = TERMINAL_ATTEMPT - {A.UNKNOWN}
NOT_ANSWERED_ENDINGS = {A.BUSY, A.NO_ANSWER, A.CANCELED}


def reachable(table: Mapping[S, frozenset[S]], start: S) -> set[S]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in table[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# --- the tables ------------------------------------------------------------------------------


def test_every_status_has_a_row_in_its_table() -> None:
    assert set(CAMPAIGN_TRANSITIONS) == set(CampaignStatus)
    assert set(LEAD_TRANSITIONS) == set(LeadStatus)
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptStatus)


def test_terminal_and_live_attempt_statuses_partition_all_statuses() -> None:
    assert set(AttemptStatus) == TERMINAL_ATTEMPT | LIVE_ATTEMPT
    assert not TERMINAL_ATTEMPT & LIVE_ATTEMPT
    assert {A.QUEUED, A.INITIATED, A.RINGING, A.ANSWERED} == LIVE_ATTEMPT


@pytest.mark.parametrize("status", sorted(TERMINAL_CAMPAIGN))
def test_terminal_campaign_status_has_no_exit(status: CampaignStatus) -> None:
    assert CAMPAIGN_TRANSITIONS[status] == frozenset()
    assert not any(can_move_campaign(status, target) for target in CampaignStatus)


@pytest.mark.parametrize("status", sorted(TERMINAL_LEAD))
def test_terminal_lead_status_has_no_exit(status: LeadStatus) -> None:
    assert LEAD_TRANSITIONS[status] == frozenset()
    assert not any(can_move_lead(status, target) for target in LeadStatus)


@pytest.mark.parametrize("status", sorted(REAL_ENDINGS))
def test_real_attempt_ending_has_no_exit(status: AttemptStatus) -> None:
    assert ATTEMPT_TRANSITIONS[status] == frozenset()


def test_unknown_attempt_may_take_a_real_ending_but_never_unknown_again() -> None:
    assert ATTEMPT_TRANSITIONS[A.UNKNOWN] == REAL_ENDINGS
    assert A.UNKNOWN not in ATTEMPT_TRANSITIONS[A.UNKNOWN]


def test_non_terminal_statuses_all_have_an_exit() -> None:
    for table, terminal in (
        (CAMPAIGN_TRANSITIONS, TERMINAL_CAMPAIGN),
        (LEAD_TRANSITIONS, TERMINAL_LEAD),
        (ATTEMPT_TRANSITIONS, TERMINAL_ATTEMPT),
    ):
        for status, exits in table.items():
            assert bool(exits) is (status not in terminal) or status is A.UNKNOWN, status


def test_answered_attempt_can_only_end_as_a_conversation_a_machine_or_unknown() -> None:
    assert ATTEMPT_TRANSITIONS[A.ANSWERED] == {A.COMPLETED, A.DISCONNECTED, A.MACHINE, A.UNKNOWN}


def test_transitions_only_name_known_statuses() -> None:
    for table, kind in (
        (CAMPAIGN_TRANSITIONS, CampaignStatus),
        (LEAD_TRANSITIONS, LeadStatus),
        (ATTEMPT_TRANSITIONS, AttemptStatus),
    ):
        for exits in table.values():
            assert all(isinstance(target, kind) for target in exits)


@pytest.mark.parametrize(
    ("table", "start", "everything"),
    [
        (CAMPAIGN_TRANSITIONS, CampaignStatus.DRAFT, set(CampaignStatus)),
        (LEAD_TRANSITIONS, LeadStatus.PENDING, set(LeadStatus)),
        (ATTEMPT_TRANSITIONS, AttemptStatus.QUEUED, set(AttemptStatus)),
    ],
    ids=["campaign", "lead", "attempt"],
)
def test_every_status_is_reachable_from_the_start(
    table: Mapping[S, frozenset[S]], start: S, everything: set[S]
) -> None:
    assert reachable(table, start) == everything


def test_nothing_leads_back_to_a_start_status() -> None:
    assert all(CampaignStatus.DRAFT not in exits for exits in CAMPAIGN_TRANSITIONS.values())
    assert all(A.QUEUED not in exits for exits in ATTEMPT_TRANSITIONS.values())
    # PENDING is re-entered only from DIALING (claimed but not admitted: no attempt spent).
    assert {s for s, exits in LEAD_TRANSITIONS.items() if LeadStatus.PENDING in exits} == {
        LeadStatus.DIALING
    }


def test_campaign_moves() -> None:
    C = CampaignStatus
    assert can_move_campaign(C.DRAFT, C.RUNNING)
    assert can_move_campaign(C.RUNNING, C.PAUSED)
    assert can_move_campaign(C.PAUSED, C.RUNNING)
    assert not can_move_campaign(C.DRAFT, C.PAUSED)
    assert not can_move_campaign(C.DRAFT, C.COMPLETED)
    assert not can_move_campaign(C.RUNNING, C.DRAFT)


def test_lead_moves() -> None:
    L = LeadStatus
    assert can_move_lead(L.PENDING, L.DIALING)
    assert can_move_lead(L.DIALING, L.WAITING_RETRY)
    assert can_move_lead(L.WAITING_RETRY, L.DIALING)
    assert not can_move_lead(L.PENDING, L.DONE)
    assert not can_move_lead(L.PENDING, L.WAITING_RETRY)
    assert not can_move_lead(L.DONE, L.PENDING)


# --- provider events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "status"),
    [
        (P.INITIATED, A.INITIATED),
        (P.RINGING, A.RINGING),
        (P.ANSWERED, A.ANSWERED),
        (P.COMPLETED, A.COMPLETED),
        (P.BUSY, A.BUSY),
        (P.NO_ANSWER, A.NO_ANSWER),
        (P.FAILED, A.FAILED),
        (P.CANCELED, A.CANCELED),
    ],
)
def test_each_event_moves_a_queued_attempt_to_its_status(
    progress: CallProgress, status: AttemptStatus
) -> None:
    assert attempt_status_after(A.QUEUED, progress, was_answered=False) is status


@pytest.mark.parametrize(
    ("current", "progress"),
    [
        (A.INITIATED, P.INITIATED),
        (A.RINGING, P.RINGING),
        (A.ANSWERED, P.ANSWERED),
        (A.COMPLETED, P.COMPLETED),
        (A.BUSY, P.BUSY),
        (A.NO_ANSWER, P.NO_ANSWER),
        (A.FAILED, P.FAILED),
        (A.CANCELED, P.CANCELED),
    ],
)
def test_a_duplicate_event_is_ignored(current: AttemptStatus, progress: CallProgress) -> None:
    assert attempt_status_after(current, progress, was_answered=current is A.ANSWERED) is None


@pytest.mark.parametrize(
    ("current", "progress", "was_answered"),
    [
        (A.ANSWERED, P.RINGING, True),
        (A.ANSWERED, P.INITIATED, True),
        (A.RINGING, P.INITIATED, False),
        (A.COMPLETED, P.INITIATED, True),
        (A.COMPLETED, P.RINGING, True),
        (A.COMPLETED, P.ANSWERED, True),
        (A.BUSY, P.RINGING, False),
        (A.NO_ANSWER, P.ANSWERED, False),
        (A.FAILED, P.COMPLETED, False),
        (A.DISCONNECTED, P.COMPLETED, True),
        (A.CANCELED, P.RINGING, False),
    ],
)
def test_an_out_of_order_event_is_ignored(
    current: AttemptStatus, progress: CallProgress, was_answered: bool
) -> None:
    assert attempt_status_after(current, progress, was_answered=was_answered) is None


@pytest.mark.parametrize("current", sorted(ATTEMPT_TRANSITIONS))
@pytest.mark.parametrize("was_answered", [False, True])
def test_queued_events_are_always_ignored(current: AttemptStatus, was_answered: bool) -> None:
    assert attempt_status_after(current, P.QUEUED, was_answered=was_answered) is None


def test_failed_after_answered_is_a_disconnection() -> None:
    assert attempt_status_after(A.ANSWERED, P.FAILED, was_answered=False) is A.DISCONNECTED
    assert attempt_status_after(A.ANSWERED, P.FAILED, was_answered=True) is A.DISCONNECTED
    # The attempt may have been given up as UNKNOWN after it was answered.
    assert attempt_status_after(A.UNKNOWN, P.FAILED, was_answered=True) is A.DISCONNECTED
    assert attempt_status_after(A.UNKNOWN, P.FAILED, was_answered=False) is A.FAILED
    assert attempt_status_after(A.RINGING, P.FAILED, was_answered=False) is A.FAILED


def test_answered_attempt_ignores_endings_that_mean_nobody_picked_up() -> None:
    for progress in (P.BUSY, P.NO_ANSWER, P.CANCELED):
        assert attempt_status_after(A.ANSWERED, progress, was_answered=True) is None
    assert attempt_status_after(A.ANSWERED, P.COMPLETED, was_answered=True) is A.COMPLETED


@pytest.mark.parametrize("progress", [P.COMPLETED, P.BUSY, P.NO_ANSWER, P.CANCELED])
def test_unknown_attempt_takes_the_late_real_ending(progress: CallProgress) -> None:
    target = attempt_status_after(A.UNKNOWN, progress, was_answered=False)
    assert target in REAL_ENDINGS
    assert target is not None
    assert target.value == progress.value.upper().replace("-", "_")


@pytest.mark.parametrize("progress", [P.BUSY, P.NO_ANSWER, P.CANCELED])
def test_an_answered_attempt_given_up_as_unknown_never_ends_unanswered(
    progress: CallProgress,
) -> None:
    """An attempt that was answered, then marked UNKNOWN by the reaper, must not end as if nobody
    had picked up: ANSWERED has no exit to BUSY/NO_ANSWER/CANCELED, and ``was_answered`` is what
    tells attempt_status_after that the UNKNOWN attempt had been answered."""
    target = attempt_status_after(A.UNKNOWN, progress, was_answered=True)
    assert target not in NOT_ANSWERED_ENDINGS


# --- property: any stream of provider events ---------------------------------------------------


def apply_events(start: AttemptStatus, events: list[CallProgress]) -> list[AttemptStatus]:
    path = [start]
    was_answered = start is A.ANSWERED
    for event in events:
        nxt = attempt_status_after(path[-1], event, was_answered=was_answered)
        if nxt is not None:
            path.append(nxt)
            was_answered = was_answered or nxt is A.ANSWERED
    return path


@settings(max_examples=300)
@given(st.lists(st.sampled_from(CallProgress), max_size=25))
def test_any_event_stream_follows_the_table(events: list[CallProgress]) -> None:
    path = apply_events(A.QUEUED, events)
    for before, after in pairwise(path):
        assert after in ATTEMPT_TRANSITIONS[before], (before, after)
    # No event ever makes an attempt UNKNOWN; that is our own verdict, not the provider's.
    assert A.UNKNOWN not in path
    # Once it has a real ending, it never changes again: the path stops there.
    for i, status in enumerate(path):
        if status in REAL_ENDINGS:
            assert i == len(path) - 1
    if A.ANSWERED in path:
        after_answer = path[path.index(A.ANSWERED) + 1 :]
        assert not set(after_answer) & (NOT_ANSWERED_ENDINGS | {A.FAILED})
        assert not set(after_answer) & LIVE_ATTEMPT


@settings(max_examples=300)
@given(st.lists(st.sampled_from(CallProgress), max_size=25))
def test_any_event_stream_is_monotonic(events: list[CallProgress]) -> None:
    order = {A.QUEUED: 0, A.INITIATED: 1, A.RINGING: 2, A.ANSWERED: 3}
    path = apply_events(A.QUEUED, events)
    ranks = [order.get(status, 4) for status in path]
    assert ranks == sorted(ranks)
    assert len(set(path)) == len(path)  # never the same status twice


@settings(max_examples=300)
@given(st.lists(st.sampled_from(CallProgress), max_size=15))
def test_events_after_unknown_give_at_most_one_real_ending(events: list[CallProgress]) -> None:
    path = apply_events(A.UNKNOWN, events)
    assert len(path) <= 2
    if len(path) == 2:
        assert path[1] in REAL_ENDINGS
        assert path[1] is not A.DISCONNECTED  # never answered, so a failure stays a failure


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(AttemptStatus)),
    st.sampled_from(CallProgress),
    st.booleans(),
)
def test_a_result_is_always_a_legal_move(
    current: AttemptStatus, progress: CallProgress, was_answered: bool
) -> None:
    target = attempt_status_after(current, progress, was_answered=was_answered)
    if target is not None:
        assert target in ATTEMPT_TRANSITIONS[current]
        assert target is not A.FAILED or not (was_answered or current is A.ANSWERED)
