"""`dialer webhook-endpoints …` against a real database file: the secret printed once, URLs
judged as by the API, rotation, a test event queued, and each tenant seeing only its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialer.cli.main import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'hooks.db'}", "DIALER_TENANT": "acme"}


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, ["webhook-endpoints", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def shown(output: str) -> dict[str, object]:
    """The JSON object the command printed (before its closing advice)."""
    found: dict[str, object] = json.loads(output[: output.rindex("}") + 1])
    return found


def test_endpoints_from_the_command_line(env: dict[str, str]) -> None:
    added = shown(run(env, "add", "https://crm.example.com/hook", "-e", "lead.finished"))
    assert str(added["secret"]).startswith("whsec_")
    assert added["events"] == ["lead.finished"]
    [listed] = json.loads(run(env, "list", "--json"))
    assert listed["url"] == "https://crm.example.com/hook"
    assert "secret" not in listed
    assert json.loads(run(env, "list", "--json", "--tenant", "globex")) == []
    assert "Webhook endpoints" in run(env, "list")

    refused = CliRunner().invoke(
        app, ["webhook-endpoints", "add", "https://10.0.0.1/x", "-e", "lead.finished"], env=env
    )
    assert refused.exit_code == 2
    assert "url:" in refused.output

    rotated = shown(run(env, "rotate", "1", "--overlap-hours", "1"))
    assert rotated["secret"] != added["secret"]
    assert rotated["previous_secret_until"] is not None
    changed = shown(run(env, "update", "1", "-e", "attempt.ended", "-e", "lead.finished"))
    assert changed["events"] == ["attempt.ended", "lead.finished"]
    assert "secret" not in changed
    assert "queued" in run(env, "test", "1")
    assert shown(run(env, "disable", "1"))["enabled"] is False
    assert shown(run(env, "enable", "1"))["enabled"] is True
    other = CliRunner().invoke(
        app, ["webhook-endpoints", "disable", "1", "--tenant", "globex"], env=env
    )
    assert other.exit_code != 0
