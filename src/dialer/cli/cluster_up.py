"""``dialer up`` (``make cluster``): a whole distributed deployment on this machine.

The telephony simulator, the HTTP listener (``dialer serve`` when it exists, else
``dialer webhooks``), beat, N workers and M dispatchers, on the local PostgreSQL, Redis and
RabbitMQ, all on loopback. Processes that die are restarted; Ctrl-C (or SIGTERM, or
``--seconds``) stops them all in order: dispatchers, beat, workers, listener, simulator.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialer.adapters.store.engine import create_database
from dialer.bootstrap import open_runtime, open_store
from dialer.cli.cluster_status import read_cluster_status
from dialer.cli.common import errors, run_command
from dialer.cli.supervise import Spec, Supervisor, free_port, wait_for_port
from dialer.demo import demo_contacts, demo_settings
from dialer.domain.retry import FixedDelays, Outcome, RetryPolicy
from dialer.domain.window import CallingWindow
from dialer.errors import DialerError
from dialer.services.campaigns import create_campaign, start_campaign
from dialer.services.contacts import import_drafts
from dialer.settings import Settings, load_settings
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

console = Console()

LOOPBACK = "127.0.0.1"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/dialer_cluster"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
STATUS_SECONDS = 10.0


def up(
    dispatchers: Annotated[int, typer.Option(min=1, max=16)] = 2,
    workers: Annotated[int, typer.Option(min=1, max=16)] = 2,
    demo: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Contacts of a demo campaign (0: none).")
    ] = 0,
    cap: Annotated[int, typer.Option(min=1, max=10_000, help="The demo campaign's cap.")] = 50,
    speed: Annotated[float, typer.Option(min=1, max=1000, help="Simulator speed.")] = 20.0,
    port: Annotated[int, typer.Option(min=0, max=65535, help="API port (0: any).")] = 8000,
    database_url: Annotated[str, typer.Option(envvar="DIALER_DATABASE_URL")] = DEFAULT_DATABASE,
    redis_url: Annotated[str, typer.Option(envvar="DIALER_REDIS_URL")] = DEFAULT_REDIS,
    broker_url: Annotated[str, typer.Option(envvar="DIALER_BROKER_URL")] = DEFAULT_BROKER,
    seconds: Annotated[
        float, typer.Option(min=0, help="Stop by itself after this long (0: at Ctrl-C).")
    ] = 0.0,
    logs: Annotated[Path | None, typer.Option(help="Directory for the processes' logs.")] = None,
) -> None:
    """Start a local distributed deployment (PostgreSQL, Redis, RabbitMQ must answer)."""
    if not database_url.startswith("postgresql"):
        errors.print(
            "[bold red]Invalid input:[/] DIALER_DATABASE_URL: `dialer up` needs PostgreSQL"
        )
        raise typer.Exit(2)
    log_dir = logs or Path(tempfile.mkdtemp(prefix="dialer-up-"))
    sim_port, api_port = free_port(), port or free_port()
    env = _environment(database_url, redis_url, broker_url, sim_port, api_port)
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        broker_url=broker_url,
        twilio_api_base=env["DIALER_TWILIO_API_BASE"],
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_AUTH_TOKEN,
        public_base_url=env["DIALER_PUBLIC_BASE_URL"],
    )
    run_command(_prepare_database(settings))
    supervisor = Supervisor(log_dir)
    stop = _stop_flag()
    try:
        _start(supervisor, env, sim_port, api_port, speed, dispatchers, workers)
        if demo:
            run_command(_demo_campaign(settings, demo, cap))
        _print_started(supervisor, env, log_dir, demo)
        _watch(supervisor, settings, stop, seconds)
    finally:
        codes = supervisor.stop_all()
    bad = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
    console.print(f"Stopped {len(codes)} processes" + (f"; unclean exits: {bad}" if bad else "."))
    raise typer.Exit(1 if bad else 0)


def _environment(
    database_url: str, redis_url: str, broker_url: str, sim_port: int, api_port: int
) -> dict[str, str]:
    return {
        "DIALER_DATABASE_URL": database_url,
        "DIALER_REDIS_URL": redis_url,
        "DIALER_BROKER_URL": broker_url,
        "DIALER_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "DIALER_TWILIO_API_BASE": f"http://{LOOPBACK}:{sim_port}",
        "DIALER_LISTEN": f"{LOOPBACK}:{api_port}",
        "DIALER_PUBLIC_BASE_URL": f"http://{LOOPBACK}:{api_port}",
    }


async def _prepare_database(settings: Settings) -> None:
    """Create the database if it does not exist, and bring it to the newest schema before
    any process starts (processes starting together must not race to migrate it)."""
    await create_database(settings.database_url)
    async with open_store(settings):
        pass


def _dialer(*args: str) -> list[str]:
    return [sys.executable, "-m", "dialer.cli", *args]


def _api_command() -> list[str]:
    """``dialer serve --api-only``: the REST API and the webhooks, no dispatcher."""
    return _dialer("serve", "--api-only")


def _start(
    supervisor: Supervisor,
    env: dict[str, str],
    sim_port: int,
    api_port: int,
    speed: float,
    dispatchers: int,
    workers: int,
) -> None:
    simulator = [sys.executable, "-m", "dialer.simulator", "--host", LOOPBACK]
    simulator += ["--port", str(sim_port), "--speed", str(speed), "--cps", "1000"]
    supervisor.start(Spec("simulator", simulator, env, stop_rank=9))
    if not wait_for_port(LOOPBACK, sim_port, 20):
        raise DialerError(f"the simulator did not start (see {supervisor.log_dir})")
    supervisor.start(Spec("api", _api_command(), env, stop_rank=7))
    supervisor.start(Spec("beat", _dialer("beat"), env, stop_rank=2))
    for n in range(1, workers + 1):
        supervisor.start(Spec(f"worker-{n}", _dialer("worker", "--name", f"worker-{n}"), env, 3))
    if not wait_for_port(LOOPBACK, api_port, 30):
        raise DialerError(f"the API did not start (see {supervisor.log_dir})")
    for n in range(1, dispatchers + 1):
        name = f"dispatcher-{n}"
        supervisor.start(Spec(name, _dialer("dispatcher", "--name", name), env, stop_rank=1))


async def _demo_campaign(settings: Settings, count: int, cap: int) -> None:
    """A campaign of ``count`` demo contacts, open all day (the cluster runs in real time),
    retried after seconds rather than the demo's simulated minutes."""
    quick = FixedDelays((30,))
    retry = RetryPolicy(
        max_attempts=3,
        rules=dict.fromkeys((Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DISCONNECTED), quick)
        | {Outcome.FAILED: FixedDelays(()), Outcome.UNKNOWN: quick},
    )
    campaign_settings = replace(
        demo_settings(cap, float(cap)),  # up to `cap` call starts per second
        name=f"cluster-demo-{int(time.time())}",
        window=CallingWindow.always(),
        retry=retry,
    )
    # The demo's cap is the operator's own --cap, not a tenant's request to be bounded.
    largest = max(cap, settings.campaign_max_concurrency)
    settings = settings.model_copy(update={"campaign_max_concurrency": largest})
    async with open_runtime(settings) as runtime:
        campaign = await create_campaign(runtime.services, settings.tenant, campaign_settings)
        await import_drafts(runtime.services, campaign.id, demo_contacts(count, seed=7))
        await start_campaign(runtime.services, campaign.id)


def _print_started(supervisor: Supervisor, env: dict[str, str], log_dir: Path, demo: int) -> None:
    table = Table(title="Local deployment", title_justify="left")
    table.add_column("process")
    table.add_column("pid")
    for name in supervisor.names:
        table.add_row(name, str(supervisor.pid(name)))
    console.print(table)
    console.print(
        f"API/webhooks: {env['DIALER_PUBLIC_BASE_URL']}   simulator: "
        f"{env['DIALER_TWILIO_API_BASE']}   logs: {log_dir}"
    )
    if demo:
        console.print(f"A demo campaign of {demo} contacts is running.")
    console.print("Watch: `dialer nodes` or `dialer status` with the same DIALER_* settings.")
    console.print("Ctrl-C stops everything.")


def _stop_flag() -> list[bool]:
    flag = [False]

    def stop(*_: object) -> None:
        flag[0] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return flag


def _watch(supervisor: Supervisor, settings: Settings, stop: list[bool], seconds: float) -> None:
    started = last_status = time.monotonic()
    while not stop[0]:
        if seconds and time.monotonic() - started >= seconds:
            return
        for name in supervisor.revive():
            console.print(f"[yellow]{name} had stopped: restarted[/]")
        if time.monotonic() - last_status >= STATUS_SECONDS:
            last_status = time.monotonic()
            _print_progress(settings)
        time.sleep(0.2)


def _print_progress(settings: Settings) -> None:
    try:
        status = asyncio.run(read_cluster_status(settings))
    except Exception as exc:  # a status line is not worth stopping the deployment for
        console.print(f"[yellow]status unavailable: {exc!r}[/]")
        return
    alive = sum(n.alive for n in status.nodes)
    console.print(
        f"{alive} processes beating; calls live {status.live_calls}, capacity in use "
        f"{status.capacity_in_use}; handed out {status.throughput('dispatcher'):.1f}/s, "
        f"sent {status.throughput('worker'):.1f}/s"
    )
