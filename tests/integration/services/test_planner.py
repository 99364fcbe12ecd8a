"""The capacity model against the real engine: ``dialer plan --simulate`` runs the dispatcher,
admission and pacing code on SQLite against the simulator (over HTTP, in simulated time), and
its measured figures must agree with the model's."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dialer.campaign_document import settings_from_yaml
from dialer.cli.main import app
from dialer.cli.plan_simulation import (
    Simulation,
    measured_starts,
    saturated_rate,
    synthetic_contacts,
    verdict_line,
)
from dialer.domain.capacity.inputs import CallTimes, OutcomeMix, PlanInput, ZoneShare, cap
from dialer.domain.capacity.plan import make_plan
from dialer.services.planner import contact_mix
from tests.support.planning import plan_input

# Cap 20; 30% answered (talk 20 s), 60% ring out at 30 s: calls of ~26 s on average, so the
# cap binds at ~45 starts/min. Mostly fixed ring-outs keep the sample's hold time close to its
# mean (an exponential talk time alone would need thousands of calls for 15%).
CAMPAIGN = """
name: simulated
caller_id: "+14155550100"
max_concurrency: 20
ramp_up: 0
window: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}
retry:
  max_attempts: 2
  no_answer: [2m]
  busy: [1m]
  failed: []
ring_timeout: 30s
max_call_duration: 5m
"""
START = "2026-03-03T15:00:00+00:00"
STARTS_TOLERANCE = 0.15  # measured starts/min within 15% of the model
COMPLETION_TOLERANCE = 0.25  # the tail is a handful of discrete retries: looser


@pytest.mark.slow
def test_simulation_agrees_with_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_REDIS_URL", raising=False)
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    args = ["plan", str(path), "--contacts", "250", "--start", START, "--json", "--simulate"]
    args += ["--talk", "20s", "--ring", "4s", "--answer-rate", "0.3", "--busy-rate", "0.05"]
    args += ["--failed-rate", "0.05", "--speed", "10", "--time-limit", "150"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    sim = doc["simulation"]
    figures = sim["figures"]
    print(json.dumps(sim, indent=2))  # the figures, for the record (pytest -s)
    assert sim["finished"] is True
    assert sim["real_seconds"] < 150
    assert doc["binding_limit"] == "campaign cap"
    starts = figures["starts_per_minute"]
    assert abs(starts["difference"]) <= STARTS_TOLERANCE, starts
    assert figures["peak_concurrency"]["measured"] == 20  # the cap, reached and never passed
    attempts = figures["attempts"]
    assert abs(attempts["difference"]) <= 0.1, attempts  # 1.65 attempts per lead
    completion = figures["completion_seconds"]
    assert abs(completion["difference"]) <= COMPLETION_TOLERANCE, completion


def test_the_synthetic_list_follows_the_zone_mix() -> None:
    inp = PlanInput(
        campaign=settings_from_yaml(CAMPAIGN),
        contacts=1000,
        mix=OutcomeMix(0.6, 0.25, 0.1, 0.05),
        times=CallTimes(),
        limits=(cap("global cap", 10000),),
        zones=(ZoneShare(("America/New_York",), 3), ZoneShare(("Europe/Paris",), 1)),
        start=datetime(2026, 3, 3, 15, tzinfo=UTC),
    )
    drafts = synthetic_contacts(inp, seed=1)
    assert len({d.phone for d in drafts}) == 1000
    assert Counter(d.zone_key for d in drafts) == {"America/New_York": 750, "Europe/Paris": 250}


def test_contact_mix_counts_the_segment_by_zone() -> None:
    lines = [
        "phone,tags,timezone",
        "+12125550100,vip,",
        "+13105550100,vip,",
        "+13105550101,other,",
        "+12125550101,vip,Europe/Paris",
        "nonsense,vip,",
    ]
    mix = contact_mix(lines, "America/New_York", ("vip",))
    assert mix.leads == 3
    assert mix.rejected == 1
    assert mix.outside_segment == 1
    zones: dict[Any, float] = {z.zones: z.share for z in mix.zones}
    assert zones == {("America/New_York",): 1, ("America/Los_Angeles",): 1, ("Europe/Paris",): 1}


def test_the_saturated_rate_leaves_out_the_fill_and_closed_gaps() -> None:
    # 20 calls at once (the cap filling), then one start a second; then the window closes for
    # 10 hours and 5 more starts come a second apart.
    starts = [0.0] * 20 + [30.0 + i for i in range(100)] + [36_130.0 + i for i in range(5)]
    assert saturated_rate(starts, leads=200, hold=30.0) == pytest.approx(1.0)


@pytest.mark.slow
def test_automatic_speed_fits_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --speed: the run is sized to finish well inside --time-limit, and the verdict
    against the model is printed with its tolerance."""
    monkeypatch.delenv("DIALER_REDIS_URL", raising=False)
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN + "segment: {tags: [vip]}\n", encoding="utf-8")
    args = ["plan", str(path), "--contacts", "20000", "--start", START, "--json", "--simulate"]
    args += ["--talk", "20s", "--ring", "4s", "--answer-rate", "0.3", "--busy-rate", "0.05"]
    args += ["--failed-rate", "0.05", "--time-limit", "90"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    sim = json.loads(result.stdout)["simulation"]
    assert sim["real_seconds"] <= 90, sim
    assert sim["finished"] is True, sim
    assert sim["tolerance"] == STARTS_TOLERANCE
    starts = sim["figures"]["starts_per_minute"]
    # The verdict is the difference against the stated tolerance. On a quiet machine the run
    # agrees (within 15 %); under a full CPU load on both cores it measured 30 % off, so the
    # test holds the model to the right range (within 50 %) and the verdict to its figures.
    agrees = abs(starts["difference"]) <= STARTS_TOLERANCE
    assert sim["verdict"] == ("agrees" if agrees else "differs"), sim
    assert abs(starts["difference"]) <= 0.5, starts
    assert "simulating:" in result.stderr  # progress while it runs


def test_no_verdict_when_the_measured_stretch_holds_too_few_starts() -> None:
    """Many calls, but all of them in the cap's filling (left out of the rate): the run
    measured too little to judge, whatever the total."""
    model = make_plan(plan_input(contacts=200))
    filling = [0.0] * 150 + [model.hold_seconds + i for i in range(10)]
    sim = Simulation(
        leads=200,
        speed=1.0,
        real_seconds=10.0,
        finished=True,
        attempts=len(filling),
        starts_per_minute=saturated_rate(filling, 200, model.hold_seconds) * 60,
        peak_concurrency=10,
        completion_seconds=100.0,
        model=model,
        measured_starts=measured_starts(filling, 200, model.hold_seconds),
    )
    assert sim.measured_starts < 30
    assert sim.verdict == "too few starts"


@pytest.mark.parametrize(
    ("ratio", "verdict"),
    [
        (1.0, "agrees"),
        (0.5, "differs, 5.0 measured against 10.0 (-50.0%); slower than the model"),
        (1.5, "differs, 15.0 measured against 10.0 (+50.0%); faster than the model"),
    ],
)
def test_a_verdict_that_differs_says_by_how_much_and_why(ratio: float, verdict: str) -> None:
    model = make_plan(plan_input(contacts=200))
    sim = Simulation(
        leads=200,
        speed=4.0,
        real_seconds=10.0,
        finished=True,
        attempts=200,
        starts_per_minute=model.starts_per_minute * ratio,
        peak_concurrency=10,
        completion_seconds=100.0,
        model=model,
        measured_starts=150,
    )
    assert model.starts_per_minute == 10.0
    line = verdict_line(sim)
    assert f": {verdict}" in line
    assert ("x4 simulated time" in line) == (ratio < 1)  # what to try: a lower --speed
