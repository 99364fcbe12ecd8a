"""The ``dialer`` command end to end: real processes, the simulator over HTTP, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialer.cli.simproc import simulator_process

pytestmark = pytest.mark.slow

SID = "AC" + "0" * 32
TOKEN = "e2e-token"
FULL_WEEK = '{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}'
CAMPAIGN = f"""
name: e2e-reminders
caller_id: "+14155550100"
max_concurrency: 4
rate: {{per_second: 10, burst: 20}}
window: {FULL_WEEK}
retry:
  max_attempts: 2
  no_answer: [2s]
  busy: [2s]
  failed: []
priority: 5
ring_timeout: 20
max_call_duration: 120
"""
GOOD_ROWS = [f"+1212555{n:04d},Person {n},,vip;east,gold" for n in range(100, 112)]
CONTACTS = "\n".join(
    [
        "phone,name,timezone,tags,plan",
        *GOOD_ROWS[:3],
        "not-a-number,Bad Number,,,",  # line 5
        *GOOD_ROWS[3:4],
        f"{GOOD_ROWS[0].split(',')[0]},Duplicate,,,",  # line 7
        *GOOD_ROWS[4:5],
        "+12125550199,Too,Many,Columns,Here,Extra",  # line 9
        "+12125550198,Bad Zone,Mars/Olympus,,",  # line 10
        *GOOD_ROWS[5:],
    ]
)


@pytest.fixture
def simulator() -> Iterator[str]:
    args = ["--speed", "50", "--talk-mean", "20", "--ring-max", "10", "--seed", "5"]
    args += ["--account-sid", SID, "--auth-token", TOKEN]
    with simulator_process(args) as url:
        yield url


def dialer(
    *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args],
        env={**os.environ, "COLUMNS": "120", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def provider_env(tmp_path: Path, simulator: str) -> dict[str, str]:
    return {
        "DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "DIALER_TWILIO_API_BASE": simulator,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "DIALER_LISTEN": "127.0.0.1:0",
    }


def files(tmp_path: Path, campaign: str = CAMPAIGN, contacts: str = CONTACTS) -> tuple[str, str]:
    (tmp_path / "campaign.yaml").write_text(campaign)
    (tmp_path / "contacts.csv").write_text(contacts)
    return str(tmp_path / "campaign.yaml"), str(tmp_path / "contacts.csv")


def test_run_dials_a_campaign_file_to_the_end(tmp_path: Path, simulator: str) -> None:
    env = provider_env(tmp_path, simulator)
    campaign, contacts = files(tmp_path)
    result = dialer("run", campaign, "--contacts", contacts, env=env)
    assert result.returncode == 0, result.stderr
    assert "Imported 12 of 16 rows; 12 leads added; 4 rejected." in result.stdout
    for line, reason in [
        (5, "phone:"),
        (7, "duplicate of line 2"),
        (9, "expected 5 columns"),
        (10, "timezone: unknown time zone"),
    ]:
        assert f"line {line}: {reason}" in result.stderr
    stats = httpx.get(f"{simulator}/_sim/stats").json()
    assert stats["peak_active"] <= 4
    assert stats["overlapping_calls_to_same_number"] == 0
    assert set(stats["calls_per_number"]) <= {row.split(",")[0] for row in GOOD_ROWS}
    status = dialer("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert (row["name"], row["status"], row["leads"], row["finished"]) == (
        "e2e-reminders",
        "COMPLETED",
        12,
        12,
    )


def test_run_whose_callbacks_cannot_arrive_warns_and_ends_by_lookup(
    tmp_path: Path, simulator: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = provider_env(tmp_path, simulator) | {
        "DIALER_PUBLIC_BASE_URL": f"http://127.0.0.1:{closed}",  # a forgotten DIALER_LISTEN
        "DIALER_CALLBACK_SILENCE_SECONDS": "2",
    }
    campaign, contacts = files(tmp_path)
    # Done by lookups well before the leases (DIALER_LEASE_TTL_SECONDS, 600 s) would end the
    # calls: the timeout fails the test otherwise.
    result = dialer("run", campaign, "--contacts", contacts, env=env, timeout=150)
    assert result.returncode == 0, result.stderr
    assert (
        "no status callback in 2 s: is DIALER_PUBLIC_BASE_URL reachable by the provider "
        "and served by DIALER_LISTEN?"
    ) in result.stderr
    [row] = json.loads(dialer("status", "--json", env=env).stdout)
    assert (row["status"], row["finished"]) == ("COMPLETED", 12)


def test_strict_import_refuses_everything(tmp_path: Path, simulator: str) -> None:
    env = provider_env(tmp_path, simulator)
    campaign, contacts = files(tmp_path)
    result = dialer("run", campaign, "--contacts", contacts, "--strict", env=env)
    assert result.returncode == 2
    assert "line 5: phone:" in result.stderr
    assert "line 10: timezone: unknown time zone" in result.stderr
    assert httpx.get(f"{simulator}/_sim/stats").json()["calls_created"] == 0
    assert not (tmp_path / "run.db").exists()  # nothing was created


def test_invalid_campaign_file_names_the_key(tmp_path: Path, simulator: str) -> None:
    bad = CAMPAIGN.replace("no_answer: [2s]", "no_answer: [2s, soon]").replace(
        "max_concurrency: 4", "max_concurrency: 0"
    )
    campaign, contacts = files(tmp_path, campaign=bad)
    result = dialer("run", campaign, "--contacts", contacts, env=provider_env(tmp_path, simulator))
    assert result.returncode == 2
    assert "retry.no_answer[1]: expected a duration" in result.stderr
    assert "max_concurrency:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_credentials_are_named(tmp_path: Path, simulator: str) -> None:
    env = provider_env(tmp_path, simulator)
    env.pop("TWILIO_AUTH_TOKEN")
    env["TWILIO_AUTH_TOKEN"] = ""
    campaign, contacts = files(tmp_path)
    result = dialer("run", campaign, "--contacts", contacts, env={**env, "TWILIO_ACCOUNT_SID": ""})
    assert result.returncode == 2
    assert "TWILIO_ACCOUNT_SID" in result.stderr


def test_demo_reports_invariants_from_the_simulator(tmp_path: Path) -> None:
    result = dialer(
        "demo", "--contacts", "150", "--cap", "10", "--speed", "300", env={}, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "peak concurrency seen by the simulator" in result.stdout
    assert result.stdout.count(" ok ") == 4
    assert "campaign COMPLETED" in result.stdout


def test_the_channels_demo_texts_and_emails_those_who_did_not_answer(tmp_path: Path) -> None:
    result = dialer(
        "demo", "--channels", "--contacts", "200", "--cap", "20", "--speed", "300",
        env={}, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "campaign COMPLETED" in result.stdout
    counted = {
        line.split("│")[1].strip(): int(line.split("│")[2])
        for line in result.stdout.splitlines()
        if line.count("│") == 5 and line.split("│")[2].strip().isdigit()
    }
    assert counted["texts accepted by the provider"] > 0
    assert counted["emails received by the SMTP server"] > 0
    assert counted["texts to a number that had replied STOP"] == 0
    assert counted["the same text twice to one number"] == 0
    assert counted["the same email twice (Message-ID)"] == 0


def test_do_not_call_commands(tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'dnc.db'}"}
    added = dialer("dnc", "add", "(212) 555-0100", "+442079460123", "--reason", "asked", env=env)
    assert added.returncode == 0, added.stderr
    assert "2 added, 0 already listed." in added.stdout
    assert dialer("dnc", "check", "+1 212 555 0100", env=env).returncode == 0
    assert dialer("dnc", "check", "+12125550101", env=env).returncode == 1
    listed = dialer("dnc", "list", env=env)
    assert "+1212*****00" in listed.stdout
    assert "2125550100" not in listed.stdout  # numbers are masked
    bad = dialer("dnc", "add", "+12125550102", "nonsense", env=env)
    assert bad.returncode == 2
    assert "argument 2:" in bad.stderr
    assert dialer("dnc", "check", "+12125550102", env=env).returncode == 1  # nothing added
    (tmp_path / "dnc.csv").write_text("phone,reason\n+12125550111,x\nbad,y\n")
    imported = dialer("dnc", "import", str(tmp_path / "dnc.csv"), env=env)
    assert imported.returncode == 2
    assert "line 3:" in imported.stderr
    assert dialer("dnc", "remove", "+12125550100", env=env).stdout.startswith("1 removed")


def test_policy_command_validates(tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'policy.db'}"}
    shown = dialer("policy", "--max-attempts", "2", "--cooldown", "0", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "At most 2 attempts per number per 86400 s; 0 s of quiet" in shown.stdout
    refused = dialer("policy", "--max-attempts", "0", env=env)
    assert refused.returncode == 2
    assert dialer("policy", env=env).stdout.startswith("At most 2 attempts")  # unchanged
    hours = dialer("policy", "--calling-hours", "09:00-12:00;13:00-20:00", env=env)
    assert "Calls outside campaigns: 09:00-12:00;13:00-20:00 contact-local." in hours.stdout
    backwards = dialer("policy", "--calling-hours", "21:00-08:00", env=env)
    assert backwards.returncode == 2
    assert "calling_hours" in backwards.stdout + backwards.stderr
    assert "09:00-12:00;13:00-20:00" in dialer("policy", env=env).stdout  # unchanged


def test_run_refuses_a_header_wider_than_the_bound(tmp_path: Path) -> None:
    header = "phone," + ",".join(f"c{i}" for i in range(1000))
    campaign, contacts = files(tmp_path, contacts=f"{header}\n+12125550100\n")
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}
    result = dialer("run", campaign, "--contacts", contacts, "--strict", env=env)
    assert result.returncode == 2, result.stderr
    assert "line 1: the header has 1,001 columns; at most 1,000 are allowed" in result.stderr


def test_run_refuses_a_contacts_file_that_is_not_utf8_in_one_line(tmp_path: Path) -> None:
    campaign, contacts = files(tmp_path)
    Path(contacts).write_bytes("phone,name\n+12125550100,Zoë\n".encode("latin-1"))
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}
    result = dialer("run", campaign, "--contacts", contacts, "--strict", env=env)
    assert result.returncode == 2, result.stderr
    assert "line 2: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr
