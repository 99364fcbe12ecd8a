"""``dialer plan`` from the command line: the table, JSON for scripts, and bad input named by
its option or campaign key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dialer.cli.main import app

CAMPAIGN = """
name: planned
caller_id: "+14155550100"
max_concurrency: 50
rate: {per_second: 10, burst: 20}
window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "20:00"}
retry:
  max_attempts: 3
  no_answer: [10m, 1h]
  busy: [5m]
  failed: []
"""
START = "2026-03-03T09:00:00-05:00"  # a Tuesday, 09:00 in New York


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner reads the deployment's settings: make them the documented defaults."""
    for name in ("GLOBAL_RATE_PER_SECOND", "GLOBAL_RATE_PER_MINUTE", "GLOBAL_RATE_PER_HOUR"):
        monkeypatch.delenv(f"DIALER_{name}", raising=False)
    monkeypatch.setenv("DIALER_GLOBAL_MAX_CONCURRENCY", "10000")
    monkeypatch.setenv("DIALER_PROVIDER_MAX_CPS", "100")


def plan(*args: str) -> Any:
    return CliRunner().invoke(app, ["plan", *args])


def plan_json(*args: str) -> dict[str, Any]:
    result = plan(*args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_json_gives_the_model_figures(campaign_file: Path) -> None:
    doc = plan_json(str(campaign_file), "--contacts", "1000", "--start", START)
    # Defaults: talk 90 s, ring 10 s, setup 1 s, ring_timeout 30 s, max_call_duration 8 min;
    # answered 0.6, no answer 0.25 (the rest), busy 0.1, failed 0.05.
    assert doc["hold_seconds_by_outcome"]["no_answer"] == 31
    assert doc["binding_limit"] == "campaign cap"
    assert doc["calls_in_flight"] == pytest.approx(50)
    assert doc["starts_per_minute"] == pytest.approx(50 / doc["mean_hold_seconds"] * 60)
    assert doc["attempts_per_lead"] == pytest.approx(1.4725)
    assert doc["total_attempts"] == pytest.approx(1472.5)
    names = {limit["name"]: limit for limit in doc["limits"]}
    assert set(names) == {"campaign cap", "campaign rate per second", "global cap", "provider CPS"}
    assert names["campaign rate per second"]["value"] == 600  # starts/min
    assert names["campaign rate per second"]["utilisation"] == pytest.approx(
        doc["starts_per_minute"] / 600
    )
    assert doc["finish"].startswith("2026-03-03")


def test_options_override_the_deployment_limits(campaign_file: Path) -> None:
    doc = plan_json(
        str(campaign_file), "--contacts", "1000", "--start", START, "--tenant-per-minute", "12"
    )
    assert doc["binding_limit"] == "tenant rate per minute"
    assert doc["starts_per_minute"] == pytest.approx(12)
    doc = plan_json(str(campaign_file), "--contacts", "10", "--start", START, "--global-cap", "5")
    assert doc["binding_limit"] == "global cap"
    assert doc["calls_in_flight"] == pytest.approx(5)


def test_a_contacts_file_gives_the_count_and_the_zones(campaign_file: Path, tmp_path: Path) -> None:
    rows = ["phone,name,timezone", "+12125550100,NY,", "+13105550100,LA,", "bad,Bad,"]
    rows += ["+12125550101,Moved,America/Los_Angeles"]
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    doc = plan_json(str(campaign_file), "--contacts-file", str(contacts), "--start", START)
    assert doc["contacts"] == 3
    assert doc["zones"] == {"America/Los_Angeles": 2, "America/New_York": 1}
    assert doc["contacts_file"] == {"rejected_rows": 1, "outside_segment": 0}


def test_the_table_names_the_binding_limit(campaign_file: Path) -> None:
    result = plan(str(campaign_file), "--contacts", "20000", "--start", START)
    assert result.exit_code == 0, result.output
    assert "sustainable starts/min" in result.stdout
    assert "campaign cap (binding)" in result.stdout
    assert "Wed 2026-03-04" in result.stdout  # 11 h of dialling does not fit in Tuesday


def errors_of(result: Any) -> str:
    assert result.exit_code == 2, result.output
    return str(result.stderr)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--talk", "soon"], "--talk: expected a duration"),
        (["--ring", "45s"], "--ring: 45s is not shorter than the campaign's ring_timeout"),
        (["--answer-rate", "1.5"], "--answer-rate + --busy-rate + --failed-rate"),
        (["--answer-rate", "0.5", "--no-answer-rate", "0.1"], "--answer-rate + --no-answer-rate"),
        (["--busy-rate", "-0.1"], "--busy-rate: must be between 0 and 1"),
        (["--zones", "Mars/Olympus"], "--zones: 'Mars/Olympus'"),
        (["--start", "2026-03-03T09:00"], "--start: needs an offset"),
        (["--start", "tomorrow"], "--start: expected ISO 8601"),
    ],
)
def test_bad_options_are_named(campaign_file: Path, args: list[str], named: str) -> None:
    base = [str(campaign_file), "--contacts", "100", "--start", START]
    if "--start" in args:
        base = base[:3]
    assert named in errors_of(plan(*base, *args))


def test_contacts_are_required_once(campaign_file: Path, tmp_path: Path) -> None:
    assert "--contacts: give either" in errors_of(plan(str(campaign_file)))
    empty = tmp_path / "empty.csv"
    empty.write_text("name\nAda\n", encoding="utf-8")
    message = errors_of(plan(str(campaign_file), "--contacts-file", str(empty)))
    assert "--contacts-file line 1: the header has no 'phone' column" in message


def test_typer_bounds_name_the_option(campaign_file: Path) -> None:
    result = plan(str(campaign_file), "--contacts", "0")
    assert result.exit_code == 2
    assert "--contacts" in result.output


def test_a_bad_campaign_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CAMPAIGN.replace("max_attempts: 3", "max_attempts: 0"), encoding="utf-8")
    assert "retry.max_attempts" in errors_of(plan(str(path), "--contacts", "10"))
