"""Answering machines in the domain: who answered, the MACHINE ending in the one transition
table, the retry policy's ``machine`` rule, and the outcome word later steps see."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from dialer.domain.channels import call_outcome
from dialer.domain.machines import (
    AnsweredBy,
    DetectionMode,
    MachineDetection,
    Voicemail,
    merge_answered_by,
)
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy, decide_after_attempt
from dialer.domain.stages import Stage, attempt_stage
from dialer.domain.statuses import (
    ATTEMPT_TRANSITIONS,
    TERMINAL_ATTEMPT,
    AttemptStatus,
    CallProgress,
    LeadStatus,
    attempt_status_after,
)

A = AttemptStatus
P = CallProgress
NOW = datetime(2026, 3, 3, 15, tzinfo=UTC)


def test_machine_is_a_terminal_ending_of_an_answered_call() -> None:
    assert A.MACHINE in TERMINAL_ATTEMPT
    assert ATTEMPT_TRANSITIONS[A.MACHINE] == frozenset()
    assert A.MACHINE in ATTEMPT_TRANSITIONS[A.ANSWERED]
    assert A.MACHINE in ATTEMPT_TRANSITIONS[A.UNKNOWN]  # the provider's late word wins


@pytest.mark.parametrize(("progress", "ending"), [(P.COMPLETED, A.MACHINE), (P.FAILED, A.MACHINE)])
def test_an_answered_call_a_machine_picked_up_ends_as_machine(
    progress: CallProgress, ending: AttemptStatus
) -> None:
    assert attempt_status_after(A.ANSWERED, progress, was_answered=True, by_machine=True) is ending


def test_a_call_people_answered_ends_as_before() -> None:
    assert attempt_status_after(A.ANSWERED, P.COMPLETED, was_answered=True) is A.COMPLETED
    assert attempt_status_after(A.ANSWERED, P.FAILED, was_answered=True) is A.DISCONNECTED


def test_an_unanswered_ending_is_not_a_machine() -> None:
    for progress, status in ((P.BUSY, A.BUSY), (P.NO_ANSWER, A.NO_ANSWER)):
        assert attempt_status_after(A.RINGING, progress, was_answered=False, by_machine=True) is (
            status
        )


def test_a_detection_report_on_an_answered_call_moves_nothing() -> None:
    assert attempt_status_after(A.ANSWERED, P.ANSWERED, was_answered=True, by_machine=True) is None
    # ... but answers a call whose answered callback was lost
    assert attempt_status_after(A.RINGING, P.ANSWERED, was_answered=False, by_machine=True) is (
        A.ANSWERED
    )


def test_a_machine_is_not_reported_twice_after_its_ending() -> None:
    assert attempt_status_after(A.MACHINE, P.COMPLETED, was_answered=True, by_machine=True) is None


def test_machine_outcome_word_and_stage() -> None:
    assert call_outcome(A.MACHINE) == "machine"
    assert attempt_stage(A.MACHINE) is Stage.DISCONNECTED


def _decide(policy: RetryPolicy, attempts: int = 1) -> tuple[LeadStatus, datetime | None]:
    decision = decide_after_attempt(policy, A.MACHINE, attempts, NOW, random.Random(1))
    return decision.status, decision.not_before


def test_the_machine_rule_retries_a_machine() -> None:
    policy = RetryPolicy(3, {Outcome.MACHINE: FixedDelays((7200,))})
    assert _decide(policy) == (LeadStatus.WAITING_RETRY, NOW + timedelta(hours=2))
    assert _decide(policy, attempts=3) == (LeadStatus.EXHAUSTED, None)


def test_without_a_machine_rule_the_no_answer_rule_applies() -> None:
    policy = RetryPolicy(3, {Outcome.NO_ANSWER: FixedDelays((600,))})
    assert _decide(policy) == (LeadStatus.WAITING_RETRY, NOW + timedelta(minutes=10))


def test_a_machine_not_retried_is_exhausted_not_failed() -> None:
    assert _decide(RetryPolicy(3)) == (LeadStatus.EXHAUSTED, None)
    no_retry = RetryPolicy(
        3, {Outcome.MACHINE: FixedDelays(()), Outcome.NO_ANSWER: FixedDelays((1,))}
    )
    assert _decide(no_retry) == (LeadStatus.EXHAUSTED, None)


def test_machines_and_faxes_are_not_people() -> None:
    assert AnsweredBy.MACHINE.is_machine
    assert AnsweredBy.FAX.is_machine
    assert not AnsweredBy.HUMAN.is_machine
    assert not AnsweredBy.UNKNOWN.is_machine


@pytest.mark.parametrize(
    ("known", "reported", "kept"),
    [
        (None, AnsweredBy.MACHINE, AnsweredBy.MACHINE),
        (AnsweredBy.UNKNOWN, AnsweredBy.HUMAN, AnsweredBy.HUMAN),
        (AnsweredBy.MACHINE, AnsweredBy.UNKNOWN, AnsweredBy.MACHINE),
        (AnsweredBy.MACHINE, None, AnsweredBy.MACHINE),
        (AnsweredBy.HUMAN, AnsweredBy.MACHINE, AnsweredBy.HUMAN),
        (None, None, None),
    ],
)
def test_a_definite_answer_is_kept(
    known: AnsweredBy | None, reported: AnsweredBy | None, kept: AnsweredBy | None
) -> None:
    assert merge_answered_by(known, reported) is kept


def test_a_voicemail_is_left_only_after_a_machine_greeting() -> None:
    message = Voicemail(text="Please call us back.")
    detection = MachineDetection(DetectionMode.DETECT_END, message)
    assert detection.voicemail_after(AnsweredBy.MACHINE, True) is message
    assert detection.voicemail_after(AnsweredBy.MACHINE, False) is None
    assert detection.voicemail_after(AnsweredBy.HUMAN, False) is None
    assert MachineDetection(DetectionMode.DETECT_END).voicemail_after(AnsweredBy.MACHINE, True) is (
        None
    )


def test_a_voicemail_needs_the_end_of_the_greeting_and_one_form() -> None:
    with pytest.raises(ValueError, match="detect_end"):
        MachineDetection(DetectionMode.DETECT, Voicemail(text="hi"))
    with pytest.raises(ValueError, match="either"):
        Voicemail()
    with pytest.raises(ValueError, match="either"):
        Voicemail(text="hi", url="https://example.com/a.mp3")
