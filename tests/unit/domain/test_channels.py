"""Channels: the words a step's ``when`` may name, the word a call gives, and which step a lead
takes next."""

from __future__ import annotations

import pytest

from dialer.domain.channels import (
    CALL_OUTCOMES,
    WHEN_WORDS,
    Channel,
    MessageStep,
    call_outcome,
    next_step,
)
from dialer.domain.statuses import AttemptStatus


def sms(*when: str) -> MessageStep:
    return MessageStep(Channel.SMS, "Hi {{ name }}", frozenset(when))


def email(*when: str) -> MessageStep:
    return MessageStep(Channel.EMAIL, "Hello", frozenset(when), "a@acme.example", "Subject")


# --- when words --------------------------------------------------------------------------------


def test_when_words_are_the_call_outcomes_and_each_channels_outcomes() -> None:
    assert CALL_OUTCOMES <= WHEN_WORDS
    assert {"no_answer", "busy", "unreachable", "completed", "machine"} <= WHEN_WORDS
    assert {"sms.delivered", "sms.undelivered", "sms.failed", "email.bounced"} <= WHEN_WORDS
    assert "email.undelivered" not in WHEN_WORDS  # an email bounces
    assert "call.no_answer" not in WHEN_WORDS  # a call's outcome is written plain
    assert all("." in w for w in WHEN_WORDS - CALL_OUTCOMES)


# --- the call's word ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (AttemptStatus.COMPLETED, "completed"),
        (AttemptStatus.NO_ANSWER, "no_answer"),
        (AttemptStatus.CANCELED, "no_answer"),  # we hung up before an answer
        (AttemptStatus.BUSY, "busy"),
        (AttemptStatus.FAILED, "failed"),
        (AttemptStatus.DISCONNECTED, "disconnected"),
        (AttemptStatus.UNKNOWN, "failed"),
    ],
)
def test_a_final_attempt_gives_its_word(status: AttemptStatus, word: str) -> None:
    assert call_outcome(status) == word
    assert word in CALL_OUTCOMES


@pytest.mark.parametrize(
    "status", [AttemptStatus.QUEUED, AttemptStatus.INITIATED, AttemptStatus.RINGING]
)
def test_an_attempt_that_never_ended_counts_as_failed(status: AttemptStatus) -> None:
    assert call_outcome(status) == "failed"


# --- runs_after --------------------------------------------------------------------------------


def test_a_step_without_when_always_runs() -> None:
    assert sms().runs_after([])
    assert sms().runs_after(["completed"])


def test_a_step_runs_when_any_of_its_words_was_seen() -> None:
    step = sms("no_answer", "busy")
    assert step.runs_after(["busy"])
    assert step.runs_after(iter(["completed", "no_answer"]))  # any iterable, read once
    assert not step.runs_after(["completed"])
    assert not step.runs_after([])


# --- next_step ---------------------------------------------------------------------------------

STEPS = (sms("no_answer", "busy"), email("sms.undelivered", "sms.failed"), email("completed"))


def test_the_first_step_that_matches_after_the_call() -> None:
    assert next_step(STEPS, 0, ["no_answer"]) == 1
    assert next_step(STEPS, 0, ["completed"]) == 3  # steps 1 and 2 are passed over


def test_the_next_step_after_a_message_step() -> None:
    assert next_step(STEPS, 1, ["no_answer", "sms.failed"]) == 2
    assert next_step(STEPS, 1, ["no_answer", "sms.delivered"]) is None


def test_no_step_left() -> None:
    assert next_step(STEPS, 0, ["disconnected"]) is None
    assert next_step(STEPS, 3, ["completed"]) is None
    assert next_step((), 0, ["no_answer"]) is None


def test_a_step_without_when_follows_anything() -> None:
    steps = (sms("busy"), email())
    assert next_step(steps, 0, ["completed"]) == 2
    assert next_step(steps, 0, []) == 2


def test_outcomes_may_be_any_iterable() -> None:
    assert next_step(STEPS, 0, (w for w in ["machine", "completed"])) == 3
