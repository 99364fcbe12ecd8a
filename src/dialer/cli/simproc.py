"""Running the simulator as a child process (the demo's provider, on the second core)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence

READY_PREFIX = "simulator listening on "


@contextlib.contextmanager
def simulator_process(args: Sequence[str], timeout: float = 20.0) -> Iterator[str]:
    """Start ``dialer simulator`` with these options on a free port; yield its base URL."""
    command = [sys.executable, "-m", "dialer.simulator", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield _wait_ready(process, timeout)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()  # the simulator prints exactly one line when ready
    if not line.startswith(READY_PREFIX):
        process.kill()
        errors = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"the simulator did not start: {line.strip()} {errors.strip()}")
    return line.removeprefix(READY_PREFIX).strip()
