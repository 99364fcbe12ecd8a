"""Bad settings are reported by every command as one line per problem, naming the real
environment variables, with exit code 2 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialer.cli.main import app

CAMPAIGN = 'name: c\ncaller_id: "+14155550100"\nmax_concurrency: 5\n'
CONFLICT = "DIALER_CAMPAIGN_MAX_CONCURRENCY: 100 (the default) cannot exceed "
CONFLICT += "DIALER_GLOBAL_MAX_CONCURRENCY (30)"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIALER_DATABASE_URL", f"sqlite:///{tmp_path / 'settings.db'}")
    monkeypatch.setenv("DIALER_GLOBAL_MAX_CONCURRENCY", "30")
    monkeypatch.delenv("DIALER_CAMPAIGN_MAX_CONCURRENCY", raising=False)
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN)
    return tmp_path


COMMANDS = [
    ["migrate"],
    ["status"],
    ["status", "--json"],
    ["nodes"],
    ["keys", "list"],
    ["keys", "create", "--scope", "platform"],
    ["dnc", "list"],
    ["dlq", "list"],
    ["history", "+12125550142"],
    ["policy"],
    ["limits"],
    ["plan", "{dir}/campaign.yaml", "--contacts", "100"],
    ["run", "{dir}/campaign.yaml", "--contacts", "{dir}/campaign.yaml"],
    ["dispatcher"],
    ["worker"],
    ["webhooks"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_settings_conflict_is_one_line_naming_the_variables(
    env: Path, command: list[str]
) -> None:
    args = [part.format(dir=env) for part in command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped error
    assert CONFLICT in result.output
    assert "DIALER_SETTINGS" not in result.output


def test_every_problem_is_reported_at_once(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_CAMPAIGN_MAX_CONCURRENCY", "40")
    monkeypatch.setenv("DIALER_PROVIDER_MIN_CPS", "5")
    monkeypatch.setenv("DIALER_PROVIDER_MAX_CPS", "2")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert (
        "DIALER_CAMPAIGN_MAX_CONCURRENCY: 40 cannot exceed DIALER_GLOBAL_MAX_CONCURRENCY (30)"
        in (result.output)
    )
    assert "DIALER_PROVIDER_MIN_CPS: 5.0 cannot exceed DIALER_PROVIDER_MAX_CPS (2.0)" in (
        result.output
    )


def test_the_installed_command_prints_no_traceback(env: Path) -> None:
    for command in (["migrate"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "dialer.cli", *command],
            env={**os.environ, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert CONFLICT in done.stderr


def test_the_demo_names_its_cap_as_the_option_it_came_from(env: Path) -> None:
    """The demo passes --cap on as the campaign cap setting: a cap over the global one is
    reported as --cap, which the operator typed, not as a variable they never set."""
    result = CliRunner().invoke(app, ["demo", "--cap", "40", "--contacts", "10"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "--cap: 40 cannot exceed DIALER_GLOBAL_MAX_CONCURRENCY (30)" in result.output
    assert "DIALER_CAMPAIGN_MAX_CONCURRENCY" not in result.output
