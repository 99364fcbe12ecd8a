"""``dialer up`` (``make cluster``) starts the local deployment — API, 2 dispatchers, 2
workers, beat and the simulator — and Ctrl-C stops all of it, leaving no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dialer.bootstrap import open_store
from dialer.services.heartbeat import cluster_status
from dialer.settings import load_settings
from tests.support.cluster import AMQP_URL, delete_amqp_queues
from tests.support.polling import until
from tests.support.redis import REDIS_URL, drop_namespace

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def test_up_starts_everything_and_ctrl_c_stops_it(database_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "DIALER_REDIS_NAMESPACE": f"test-{tag}",
        "DIALER_DEFAULT_QUEUE": f"test-{tag}",
        "DIALER_HEARTBEAT_SECONDS": "0.5",
    }
    command = [sys.executable, "-m", "dialer.cli", "up", "--port", "0", "--logs", str(tmp_path)]
    command += ["--database-url", database_url, "--redis-url", REDIS_URL]
    command += ["--broker-url", AMQP_URL]
    up = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        async with open_store(load_settings(database_url=database_url)) as store:

            async def everyone_beating() -> bool:
                if up.returncode is not None:
                    raise AssertionError(f"dialer up exited with {up.returncode}")
                nodes = (await cluster_status(store, None, 100, 0.5)).nodes
                kinds = [kind for kind, _ in {(n.beat.kind, n.beat.node) for n in nodes if n.alive}]
                return kinds.count("dispatcher") == 2 and kinds.count("worker") == 2

            await until(everyone_beating, 60, "2 dispatchers and 2 workers beating", every=0.5)
            pids = [n.beat.pid for n in (await cluster_status(store, None, 100, 0.5)).nodes]
        started = time.monotonic()
        up.send_signal(signal.SIGINT)  # what Ctrl-C sends
        output, _ = await asyncio.wait_for(up.communicate(), 60)
    finally:
        if up.returncode is None:  # stop it as an operator would: it stops its processes
            up.terminate()
            await asyncio.wait_for(up.wait(), 60)
        await drop_namespace(REDIS_URL, f"test-{tag}")
        delete_amqp_queues([f"test-{tag}", f"test-{tag}.maintenance"])
    text = output.decode(errors="replace")
    assert up.returncode == 0, text
    assert "Stopped 7 processes." in text  # simulator, API, beat, 2 workers, 2 dispatchers
    assert time.monotonic() - started < 30
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
