"""Exact caps under contention, short version (CI): 8 spawned processes x many coroutines on
the real Redis, caps 10, 100 and 10,000, a shared pool of numbers, and a rate. The peak is
computed from the server's intervals and from a witness that does not ask Redis; the
30-second version is ``python -m benchmarks.admission --stress``."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.harness import stress

from dialer.domain.model import Rate
from tests.support.redis import REDIS_URL

pytestmark = pytest.mark.slow

PROCESSES = 8
PHASES = [
    stress.Phase("cap-10", cap=10, seconds=2, coroutines=6),
    stress.Phase(
        "cap-100+nums", cap=100, seconds=2, coroutines=20, numbers=300, hold=(0.005, 0.02)
    ),
    stress.Phase("cap-10000", cap=10_000, seconds=3, coroutines=25, batch=60, hold=(0.05, 0.15)),
    stress.Phase(
        "rate-300/s", cap=1000, seconds=5, coroutines=4, hold=(0, 0.002), rate=Rate(300, 20)
    ),
]


def test_caps_numbers_and_rate_hold_across_8_processes_short(tmp_path: Path) -> None:
    reports = stress.run(REDIS_URL, PHASES, PROCESSES, tmp_path)
    print("\n" + stress.table(reports))
    for report in reports:
        name, cap = report.phase.name, report.phase.cap
        assert report.admitted > cap, name
        assert report.peak_server <= cap, name
        assert report.peak_witness <= cap, name
        assert report.lost == 0, name
        assert report.final_usage == 0, name
        assert report.number_overlaps_server == report.number_overlaps_witness == 0, name
        if report.phase.rate is None:
            assert report.peak_server == cap, f"{name}: the cap was never reached"
    rated = reports[-1].rate_error
    assert rated is not None
    assert abs(rated) <= 0.02
