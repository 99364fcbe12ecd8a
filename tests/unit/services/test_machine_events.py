"""Detection reports through the provider-event use case, on the in-memory backends: who
answered is recorded on the attempt, a machine's call ends MACHINE, the voicemail is asked of
the provider once (a repeated report leaves none), and a campaign's voicemail needs a provider
that can leave one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dialer.domain.machines import AnsweredBy, DetectionMode, MachineDetection, Voicemail
from dialer.domain.model import CallAttempt
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.statuses import AttemptStatus, CallProgress, LeadStatus
from dialer.errors import InvalidInput, ProviderUnavailable
from dialer.ports import LeadQuery, ProviderEvent
from dialer.services.campaigns import create_campaign
from dialer.services.provider_events import apply_event
from tests.support.in_process import InProcess, in_process
from tests.unit.services.test_dialling import campaign_settings, dispatch_and_send, started

MESSAGE = Voicemail(text="Please call us back.")
DETECT_END = MachineDetection(DetectionMode.DETECT_END, MESSAGE)


async def one_call(p: InProcess, **changes: object) -> tuple[int, str]:
    await started(p, contacts=1, **changes)
    [(attempt_id, call_id)] = await dispatch_and_send(p)
    return attempt_id, call_id


async def report(
    p: InProcess,
    attempt_id: int,
    call_id: str,
    progress: CallProgress,
    answered_by: AnsweredBy | None = None,
    greeting_ended: bool = False,
) -> str:
    event = ProviderEvent(
        call_id, progress, duration=9, answered_by=answered_by, greeting_ended=greeting_ended
    )
    return (await apply_event(p.services, attempt_id, event)).effect


async def attempt(p: InProcess, attempt_id: int) -> CallAttempt:
    async with p.services.store.unit() as uow:
        found = await uow.attempts.get(attempt_id)
    assert found is not None
    return found


async def test_the_machine_gets_the_voicemail_once_and_the_call_ends_machine() -> None:
    p = in_process()
    attempt_id, call_id = await one_call(p, machine_detection=DETECT_END)
    assert p.provider.created[0].machine_detection == "detect_end"
    await report(p, attempt_id, call_id, CallProgress.ANSWERED)
    beep = (CallProgress.ANSWERED, AnsweredBy.MACHINE, True)
    assert await report(p, attempt_id, call_id, *beep) == "answered by machine"
    assert await report(p, attempt_id, call_id, *beep) == "duplicate"
    assert p.provider.voicemails == [(call_id, MESSAGE)]
    assert await report(p, attempt_id, call_id, CallProgress.COMPLETED) == "MACHINE"
    ended = await attempt(p, attempt_id)
    assert (ended.status, ended.answered_by) == (AttemptStatus.MACHINE, AnsweredBy.MACHINE)


async def test_no_voicemail_before_the_beep_nor_for_a_person() -> None:
    p = in_process()
    attempt_id, call_id = await one_call(p, machine_detection=DETECT_END)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.MACHINE)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.HUMAN, True)
    assert p.provider.voicemails == []
    assert (await attempt(p, attempt_id)).answered_by is AnsweredBy.MACHINE  # kept


async def test_a_person_ends_completed_and_the_lead_is_done() -> None:
    p = in_process()
    detect = MachineDetection(DetectionMode.DETECT)
    attempt_id, call_id = await one_call(p, machine_detection=detect)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.HUMAN)
    assert await report(p, attempt_id, call_id, CallProgress.COMPLETED) == "COMPLETED"
    assert (await attempt(p, attempt_id)).answered_by is AnsweredBy.HUMAN


async def test_a_detection_report_without_the_answer_callback_answers_the_call() -> None:
    p = in_process()
    attempt_id, call_id = await one_call(p, machine_detection=MachineDetection())
    effect = await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.MACHINE)
    assert effect == "ANSWERED"
    found = await attempt(p, attempt_id)
    assert found.answered_at is not None
    assert found.answered_by is AnsweredBy.MACHINE


async def test_a_machine_is_retried_by_the_machine_rule() -> None:
    p = in_process()
    policy = RetryPolicy(2, {Outcome.MACHINE: FixedDelays((3600,))})
    campaign = await started(p, contacts=1, machine_detection=MachineDetection(), retry=policy)
    [(attempt_id, call_id)] = await dispatch_and_send(p)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.MACHINE)
    await report(p, attempt_id, call_id, CallProgress.COMPLETED)
    async with p.services.store.unit() as uow:
        [lead] = [r.lead for r in await uow.leads.find(LeadQuery(campaign.id, limit=10))]
    assert lead.status is LeadStatus.WAITING_RETRY
    assert lead.next_attempt_at is not None
    assert lead.next_attempt_at >= p.clock.now() + timedelta(hours=1)


async def test_a_late_report_on_an_ended_call_is_recorded_and_decides_nothing() -> None:
    p = in_process()
    attempt_id, call_id = await one_call(p, machine_detection=DETECT_END)
    await report(p, attempt_id, call_id, CallProgress.ANSWERED)
    await report(p, attempt_id, call_id, CallProgress.COMPLETED)
    late = await report(p, attempt_id, call_id, CallProgress.ANSWERED, AnsweredBy.MACHINE, True)
    assert late == "answered by machine"
    found = await attempt(p, attempt_id)
    assert (found.status, found.answered_by) == (AttemptStatus.COMPLETED, AnsweredBy.MACHINE)
    assert p.provider.voicemails == []  # the call is over


async def test_a_failing_voicemail_leaves_the_event_stored() -> None:
    p = in_process()
    attempt_id, call_id = await one_call(p, machine_detection=DETECT_END)

    async def refuse(provider_call_id: str, voicemail: Voicemail) -> None:
        raise ProviderUnavailable("down")

    p.provider.leave_voicemail = refuse  # type: ignore[method-assign]
    beep = (CallProgress.ANSWERED, AnsweredBy.MACHINE, True)
    assert await report(p, attempt_id, call_id, *beep) == "ANSWERED"
    assert (await attempt(p, attempt_id)).answered_by is AnsweredBy.MACHINE


@pytest.mark.parametrize("provider", ["plivo", "telnyx"])
async def test_a_voicemail_needs_a_provider_that_can_leave_one(provider: str) -> None:
    p = in_process()
    p.provider.name, p.provider.leaves_voicemail = provider, False
    with pytest.raises(InvalidInput) as info:
        await create_campaign(p.services, "acme", campaign_settings(machine_detection=DETECT_END))
    [problem] = info.value.problems
    assert problem.location == "machine_detection.voicemail"
    assert provider in problem.message
    # detection alone works with any provider
    await create_campaign(
        p.services, "acme", campaign_settings(machine_detection=MachineDetection())
    )


async def test_a_recording_on_an_internal_host_is_refused() -> None:
    p = in_process()
    url = "http://169.254.169.254/latest/vm.mp3"
    detection = MachineDetection(DetectionMode.DETECT_END, Voicemail(url=url))
    with pytest.raises(InvalidInput) as info:
        await create_campaign(p.services, "acme", campaign_settings(machine_detection=detection))
    assert [p.location for p in info.value.problems] == ["machine_detection.voicemail.url"]
