"""Running the simulator as a child process (the demo's provider, on the second core)."""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
from collections.abc import Iterator, Sequence

READY_PREFIX = "simulator listening on "


@contextlib.contextmanager
def simulator_process(args: Sequence[str], timeout: float = 20.0) -> Iterator[str]:
    """Start ``dialer simulator`` with these options on a free port; yield its base URL."""
    command = [sys.executable, "-m", "dialer.simulator", "--host", "127.0.0.1", "--port", "0"]
    with subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            yield _wait_ready(process, timeout)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> str:
    """Read the simulator's one ready line; give up after ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else "no answer in time"
    if not line.startswith(READY_PREFIX):
        process.kill()
        errors = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"the simulator did not start: {line.strip()} {errors.strip()}")
    return line.removeprefix(READY_PREFIX).strip()
