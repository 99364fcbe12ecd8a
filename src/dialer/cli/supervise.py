"""A small process supervisor for a local deployment (``dialer up``) and the chaos test:
start named processes, restart the ones that die, kill one on purpose, stop them all.

Each process runs in a session (process group) of its own, so a worker's pool processes are
stopped — or killed — with it, and Ctrl-C in the terminal reaches the supervisor only: it
stops the others in order (dispatchers first, so no new calls are handed out, the simulator
last). Everything listens on loopback only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

STOP_SECONDS = 20.0  # a process still running this long after SIGTERM is killed
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass(frozen=True)
class Spec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    stop_rank: int = 5  # lower ranks are stopped first


@dataclass
class _Running:
    spec: Spec
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None
    starts: int = 1
    last_start: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self._running: dict[str, _Running] = {}
        self.restarts = 0

    def start(self, spec: Spec) -> int:
        """Start (or restart) ``spec``; its pid."""
        log = self._log_file(spec.name)
        process = subprocess.Popen(
            list(spec.argv),
            env={**os.environ, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        previous = self._running.get(spec.name)
        if previous is not None and previous.log is not None:
            previous.log.close()
        starts = previous.starts + 1 if previous else 1
        self._running[spec.name] = _Running(spec, process, log, starts)
        return process.pid

    def _log_file(self, name: str) -> IO[bytes] | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return (self.log_dir / f"{name}.log").open("ab")

    @property
    def names(self) -> list[str]:
        return list(self._running)

    def pid(self, name: str) -> int:
        return self._running[name].process.pid

    def alive(self, name: str) -> bool:
        return self._running[name].process.poll() is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group of ``name`` (a worker and its pool processes)."""
        running = self._running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, sig)
        if sig == signal.SIGKILL:
            running.process.wait()

    def restart(self, name: str) -> int:
        self.restarts += 1
        return self.start(self._running[name].spec)

    def revive(self, min_uptime: float = 2.0) -> list[str]:
        """Restart every process that exited; one that keeps dying is restarted at most
        once per ``min_uptime`` seconds."""
        revived = []
        for name, running in list(self._running.items()):
            if running.process.poll() is None:
                continue
            if time.monotonic() - running.last_start < min_uptime:
                continue
            self.restart(name)
            revived.append(name)
        return revived

    def stop_all(self, timeout: float = STOP_SECONDS) -> dict[str, int | None]:
        """SIGTERM rank by rank, waiting for each rank; SIGKILL what outlives ``timeout``.
        Returns each process's exit code."""
        ranks = sorted({r.spec.stop_rank for r in self._running.values()})
        for rank in ranks:
            group = [r for r in self._running.values() if r.spec.stop_rank == rank]
            for running in group:
                self._signal(running, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for running in group:
                self._wait(running, deadline)
        codes = {name: r.process.returncode for name, r in self._running.items()}
        for running in self._running.values():
            if running.log is not None:
                running.log.close()
        return codes

    def _signal(self, running: _Running, sig: int) -> None:
        if running.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, sig)

    def _wait(self, running: _Running, deadline: float) -> None:
        try:
            running.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal(running, signal.SIGKILL)
            running.process.wait()
        # The group may hold pool processes that outlived their parent: end them too.
        self._signal_group_leftovers(running.process.pid)

    @staticmethod
    def _signal_group_leftovers(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the child, before it runs: ask Linux for SIGTERM when the supervisor dies, so that
    a supervisor killed outright leaves no orphans (elsewhere this is a no-op)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False
