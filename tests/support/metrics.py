"""Running promtool: the test fails, never skips, when it is missing (scripts/ensure-tools.sh
installs it; `make test` runs that first). And scraping a wired engine's /metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from tests.support.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run scripts/ensure-tools.sh (make test does)"
    return subprocess.run(
        [path, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


async def scrape(e: Engine) -> str:
    async with httpx.AsyncClient(base_url=e.runtime.services.webhook_base) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    return answer.text
