"""Callbacks that never arrive: a run whose webhook URL the provider cannot reach warns within
the silence allowed, and its calls end by lookup at the provider instead of waiting for their
leases; a run whose callbacks arrive never warns, even through long conversations."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace
from datetime import timedelta

import pytest
from rich.console import Console

from dialer.cli.display import LiveView
from dialer.domain.model import CampaignSettings
from dialer.domain.phone import zone_key
from dialer.domain.retry import RetryPolicy
from dialer.domain.statuses import AttemptStatus, CampaignStatus
from dialer.ports import ContactDraft
from dialer.runner import run_to_end
from dialer.services.callback_watch import SILENCE_WARNING
from tests.support.engine import EngineFactory, sim_config

SILENCE = 30.0  # seconds of the engine's simulated clock (0.3 s real at its speed)
CONTACTS = [ContactDraft(f"+1212200{i:04d}", zone_key(("America/New_York",))) for i in range(6)]
CAMPAIGN = CampaignSettings(
    name="silence",
    caller_id="+14155550100",
    max_concurrency=3,
    retry=RetryPolicy(1),
    ring_timeout=10,
    max_call_duration=120,
    ramp_up=0,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


async def test_unreachable_callbacks_warn_and_calls_end_by_lookup(
    engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dialer.services.callback_watch")
    warnings: list[str | None] = []
    screen = Console(record=True, width=200)

    def show(warning: str | None) -> None:
        warnings.append(warning)
        view.warn(warning)

    async with engine(callback_silence_seconds=SILENCE) as e:
        e.runtime.services.webhook_base = f"http://127.0.0.1:{closed_port()}"
        campaign = await e.campaign(CAMPAIGN, CONTACTS)
        started = e.clock.now()
        with LiveView(screen) as view:
            final = await asyncio.wait_for(
                run_to_end(e.runtime, campaign.id, view.update, show), 30
            )
        took = e.clock.now() - started
        lease_ttl = e.runtime.services.limits.lease_ttl
    assert final.status is CampaignStatus.COMPLETED
    assert final.finished_leads == final.total_leads == 6
    message = SILENCE_WARNING.format(seconds=SILENCE)
    assert message == (
        "no status callback in 30 s: is DIALER_PUBLIC_BASE_URL reachable by the provider and "
        "served by DIALER_LISTEN?"
    )
    assert message in warnings
    assert f"warning: {message}" in screen.export_text()  # under the live view's figures
    assert [r.getMessage() for r in caplog.records] == [message]  # logged once, not per pass
    # Settled by lookup long before any lease ran out (the reaper's way) or the quiet period.
    assert took < timedelta(seconds=min(lease_ttl, 180))
    assert AttemptStatus.UNKNOWN not in final.attempts


async def test_callbacks_heard_raise_no_warning_even_in_long_calls(
    engine: EngineFactory,
) -> None:
    warnings: list[str | None] = []
    talkative = sim_config(talk_mean=90.0, outcome_mix={"answer": 1.0})
    async with engine(sim=talkative, callback_silence_seconds=SILENCE) as e:
        campaign = await e.campaign(CAMPAIGN, CONTACTS[:3])
        final = await asyncio.wait_for(
            run_to_end(e.runtime, campaign.id, on_warning=warnings.append), 30
        )
    assert final.status is CampaignStatus.COMPLETED
    assert warnings  # the watch ran ...
    assert set(warnings) == {None}  # ... and found nothing to say


async def test_calls_ringing_longer_than_the_silence_raise_no_warning(
    engine: EngineFactory,
) -> None:
    """Only the answer and the ending are asked of the provider, so a call ringing past the
    silence allowed says nothing: the lookup finds it ringing, which is no cause to warn."""
    warnings: list[str | None] = []
    unanswered = sim_config(outcome_mix={"no_answer": 1.0})
    long_ring = replace(CAMPAIGN, ring_timeout=60)
    async with engine(sim=unanswered, callback_silence_seconds=SILENCE) as e:
        campaign = await e.campaign(long_ring, CONTACTS[:3])
        final = await asyncio.wait_for(
            run_to_end(e.runtime, campaign.id, on_warning=warnings.append), 30
        )
    assert final.status is CampaignStatus.COMPLETED
    assert final.attempts.get(AttemptStatus.NO_ANSWER) == 3  # ended by their own callbacks
    assert warnings
    assert set(warnings) == {None}
