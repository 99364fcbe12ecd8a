"""The ``dialer`` command configures logging before anything else: JSON lines on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def dialer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_command_writes_its_log_records_as_json_lines(tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "DIALER_LOG_LEVEL": "info"}
    result = dialer("migrate", env=env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(records) >= 5  # alembic reports each revision it applies
    for record in records:
        assert list(record)[:4] == ["timestamp", "level", "logger", "event"]
        assert record["level"] == "info"
    assert any("0004_tracing" in r["event"] for r in records)
    assert result.stdout.strip() == "Database is at the newest schema."  # the human output


def test_the_level_and_format_are_settings(tmp_path: Path) -> None:
    env = {"DIALER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "DIALER_LOG_LEVEL": "WARNING"}
    assert dialer("migrate", env=env).stderr == ""  # nothing at warning or above
    console = dialer(
        "migrate", env={**env, "DIALER_LOG_LEVEL": "INFO", "DIALER_LOG_FORMAT": "console"}
    )
    assert console.returncode == 0
    assert "[info     ] Context impl SQLiteImpl." in console.stderr
    assert not console.stderr.lstrip().startswith("{")


def test_a_bad_logging_setting_is_named(tmp_path: Path) -> None:
    result = dialer("status", env={"DIALER_LOG_FORMAT": "xml", "DIALER_LOG_LEVEL": "loud"})
    assert result.returncode == 2
    assert "DIALER_LOG_FORMAT" in result.stderr
    assert "DIALER_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in (
        " ".join(result.stderr.split())
    )
