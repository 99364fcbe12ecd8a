"""DIALER_METRICS_PORT: a dispatcher's own figures over HTTP, and a worker's summed over the
processes of its pool (forked children, as Celery's prefork pool makes them)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request

from dialer import metrics


def test_a_process_serves_its_own_figures() -> None:
    labels = {"campaign": "41", "reason": "campaign_cap"}
    name = "dialer_admission_refusals_total"
    before = metrics.process_registry.get_sample_value(name, labels) or 0
    metrics.admission_refusals.labels("41", "campaign_cap").inc(3)
    with (
        metrics.process_exporter("127.0.0.1", 0) as port,
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer,
    ):
        text = answer.read().decode()
    assert f'{name}{{campaign="41",reason="campaign_cap"}} {before + 3:.1f}' in text
    assert "dialer_calls_started_total" not in text  # the store's figures are serve's alone


WORKER = textwrap.dedent(
    """
    import multiprocessing, urllib.request
    from dialer import metrics
    from dialer.errors import ProviderThrottled

    def child(n):
        for _ in range(n):
            error = ProviderThrottled("429")
            metrics.provider_errors.labels("AC1", metrics.error_kind(error)).inc()

    with metrics.worker_exporter("127.0.0.1", 0) as port:
        fork = multiprocessing.get_context("fork")
        for n in (2, 3):  # two pool processes, one after the other (a child replaced)
            p = fork.Process(target=child, args=(n,))
            p.start()
            p.join()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            print(answer.read().decode())
    """
)


def test_a_worker_sums_the_figures_of_its_pool_processes() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert 'dialer_provider_errors_total{account="AC1",kind="throttled"} 5.0' in ran.stdout
