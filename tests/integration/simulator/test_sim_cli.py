"""``dialer simulator`` / ``python -m dialer.simulator``: one line on stdout, then it serves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import typer
from typer.testing import CliRunner

from dialer.simulator.command import simulator

SID = "AC" + "12" * 16
TOKEN = "from-the-environment"


async def test_it_announces_the_real_port_serves_with_env_credentials_and_stops_on_sigint() -> None:
    env = {**os.environ, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.simulator",
        "--port",
        "0",
        "--speed",
        "100",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        url = line.removeprefix("simulator listening on ").strip()
        async with httpx.AsyncClient(auth=(SID, TOKEN)) as client:
            created = await client.post(
                f"{url}/2010-04-01/Accounts/{SID}/Calls.json",
                data={"To": "+14155550123", "From": "+14155550100", "Url": "http://x/a"},
            )
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            rest, errors = await process.communicate()

    assert line.startswith("simulator listening on http://127.0.0.1:")
    assert not url.endswith(":0")
    assert created.status_code == 201
    assert rest == b""  # exactly one line
    assert process.returncode == 0, errors.decode()


def test_bad_options_are_reported_with_exit_code_2() -> None:
    app = typer.Typer()
    app.command()(simulator)

    result = CliRunner().invoke(
        app, ["--cps", "0", "--outcomes", "answer=1,busy=-1", "--override", "+1415=explode"]
    )

    assert result.exit_code == 2
    assert "cps: must be more than 0" in result.output
    assert "outcome_mix.busy: must be zero or more" in result.output
    assert "explode" in result.output
