"""Commands of a distributed deployment (PostgreSQL + Redis + a Celery broker):

    dialer dispatcher   the pacing loop (any number of replicas); hands batches to Celery
    dialer worker       a Celery worker sending origination batches (``--queues``)
    dialer beat         the periodic reaper, reconciler and housekeeping (exactly one)
    dialer webhooks     a webhook listener of its own (any number, behind one public URL)
    dialer dlq          list, replay or discard dead letters

``dialer nodes`` (and the cluster part of ``dialer status``) is in cluster_status.py, ``dialer
up`` (all of the above on this machine, with the simulator) in cluster_up.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from dialer import metrics
from dialer.adapters.store import migrate
from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.bootstrap import Runtime, open_runtime, open_store
from dialer.bootstrap.worker import serve_worker
from dialer.cli.common import print_problems, run_command
from dialer.errors import DialerError, InvalidInput, Problem
from dialer.observability.logs import set_verbose
from dialer.ports import DeadLetter
from dialer.runner import webhook_listener
from dialer.services import dlq as dead_letters
from dialer.services.heartbeat import Heartbeat
from dialer.services.loops import run_forever
from dialer.settings import QUEUE_NAME, Settings, load_settings

__all__ = ["beat", "dispatcher", "dlq", "webhooks", "worker"]

log = logging.getLogger(__name__)
console = Console()
T = TypeVar("T")

REBUILD_CHECK_SECONDS = 1.0  # how often a dispatcher checks that admission state is intact

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")]
Name = Annotated[str, typer.Option(help="This process's name in heartbeats and `dialer nodes`.")]


def _logging(verbose: bool) -> None:
    set_verbose(verbose)  # the format is set as the command starts (dialer.observability)


def _checked(make: Callable[[], T]) -> T:
    """Run ``make``; bad settings become a clear message and exit code 2."""
    try:
        return make()
    except InvalidInput as exc:
        print_problems(exc)
        raise typer.Exit(2) from exc


def distributed_settings(**overrides: object) -> Settings:
    """Settings of a distributed process: a broker, shared admission and PostgreSQL."""
    settings = load_settings(**overrides)
    problems = []
    if not settings.broker_url:
        problems.append(Problem("DIALER_BROKER_URL", "required: the broker carrying batches"))
    if not settings.redis_url:
        problems.append(Problem("DIALER_REDIS_URL", "required: admission shared by processes"))
    if not settings.database_url.startswith(("postgresql://", "postgresql+asyncpg://")):
        problems.append(Problem("DIALER_DATABASE_URL", "distributed execution needs PostgreSQL"))
    if problems:
        raise InvalidInput(problems)
    return settings


async def _require_current_schema(settings: Settings) -> None:
    """A worker's processes would each migrate as they start: refuse to race them."""
    store = SqlStore(make_engine(settings.database_url))
    try:
        if not await migrate.is_current(store.engine):
            raise DialerError("the database is not at the newest schema: run `dialer migrate`")
    finally:
        await store.close()


def _stop_event() -> asyncio.Event:
    """Set on SIGTERM or SIGINT: the process finishes what it holds, then exits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


# ---------------------------------------------------------------- dispatcher


class DispatcherLoops:
    """A dispatcher's work until ``stop``: pacing ticks, and keeping admission honest."""

    def __init__(self, runtime: Runtime, heartbeat: Heartbeat, stop: asyncio.Event) -> None:
        self.runtime = runtime
        self.heartbeat = heartbeat
        self.stop = stop
        self._reconciled_at = time.monotonic()

    async def dispatch(self) -> None:
        await run_forever("dispatcher", self._dispatch, self._failed, stop=self.stop)

    async def _dispatch(self) -> float:
        settings = self.runtime.settings
        report = await self.runtime.dispatcher.run_once()
        self.heartbeat.count(processed=report.originated)
        return 0.0 if report.originated >= settings.dispatch_batch_size else settings.tick_seconds

    def _failed(self, _exc: Exception) -> None:
        """Database, Redis or broker down: counted in the heartbeat; the loop backs off."""
        self.heartbeat.count(failed=1)

    async def deliver_webhooks(self) -> None:
        """Send the outbox to tenants' webhook endpoints (every dispatcher claims its share)."""
        if self.runtime.webhooks is not None:
            tick = self.runtime.webhooks.tick
            await run_forever("webhooks", tick, self._failed, stop=self.stop)

    async def reconcile(self) -> None:
        """Rebuild admission at once when Redis lost its state (nothing is admitted until
        then); otherwise reconcile every DIALER_RECONCILE_SECONDS."""
        first = REBUILD_CHECK_SECONDS
        await run_forever("reconciler", self._reconcile, stop=self.stop, start_after=first)

    async def _reconcile(self) -> float:
        since = time.monotonic() - self._reconciled_at
        due = since >= self.runtime.settings.reconcile_seconds
        if due or await self.runtime.services.admission.needs_rebuild():
            await self.runtime.reconciler.run_once()
            self._reconciled_at = time.monotonic()
        return REBUILD_CHECK_SECONDS


def dispatcher(
    name: Name = "dispatcher",
    listen: Annotated[
        str | None,
        typer.Option(help="Also serve the provider webhooks on HOST:PORT (loopback by default)."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """The pacing loop: claim, admit and record calls, then hand batches to the workers."""
    _logging(verbose)
    settings = _checked(distributed_settings)
    with metrics.process_exporter(settings.metrics_host, settings.metrics_port):
        run_command(_run_dispatcher(settings, name, listen))


async def _run_dispatcher(settings: Settings, name: str, listen: str | None) -> None:
    stop = _stop_event()
    heartbeat = Heartbeat("dispatcher", _node(name), settings.heartbeat_seconds)
    async with open_runtime(settings) as runtime, _maybe_listening(runtime, listen):
        loops = DispatcherLoops(runtime, heartbeat, stop)
        await asyncio.gather(
            loops.dispatch(),
            loops.reconcile(),
            loops.deliver_webhooks(),
            heartbeat.run(runtime.store, stop),
        )
        await runtime.dispatcher.wait_messages()  # sends in flight finish before we close
        if runtime.webhooks is not None:
            await runtime.webhooks.wait_idle()  # and webhook deliveries in flight settle
        await runtime.executor.drain()


@asynccontextmanager
async def _maybe_listening(runtime: Runtime, listen: str | None) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        if listen is not None:
            host, port = _host_port(listen)
            await stack.enter_async_context(webhook_listener(runtime, host, port))
        yield


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(Problem("--listen", f"expected HOST:PORT, got {listen!r}"))
    return host, int(port)


def _node(name: str) -> str:
    from dialer.adapters.executor.celery_worker import node_name

    return node_name(name)


# ---------------------------------------------------------------- webhooks


def webhooks(
    name: Name = "webhooks",
    listen: Annotated[str | None, typer.Option(help="HOST:PORT (default DIALER_LISTEN).")] = None,
    verbose: Verbose = False,
) -> None:
    """Serve the provider webhooks on their own, until stopped (SIGTERM or Ctrl-C)."""
    _logging(verbose)
    settings = _checked(load_settings)
    with metrics.process_exporter(settings.metrics_host, settings.metrics_port):
        run_command(_run_webhooks(settings, name, listen or settings.listen))


async def _run_webhooks(settings: Settings, name: str, listen: str) -> None:
    stop = _stop_event()
    heartbeat = Heartbeat("webhooks", _node(name), settings.heartbeat_seconds)
    host, port = _host_port(listen)
    async with open_runtime(settings) as runtime, webhook_listener(runtime, host, port):
        await heartbeat.run(runtime.store, stop)


# ---------------------------------------------------------------- worker, beat


def worker(
    name: Name = "worker",
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated queues (default: the default and maintenance ones)."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Processes (default DIALER_WORKER_CONCURRENCY)."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """A Celery worker: sends origination batches, and runs beat's periodic tasks."""
    from dialer.adapters.executor.celery_app import worker_queues

    _logging(verbose)
    settings = _checked(distributed_settings)
    chosen = _checked(lambda: _queues(queues) if queues else worker_queues(settings))
    run_command(_require_current_schema(settings))
    with metrics.worker_exporter(settings.metrics_host, settings.metrics_port):
        code = serve_worker(
            settings,
            name=name,
            queues=chosen,
            concurrency=concurrency or settings.worker_concurrency,
            loglevel="INFO" if verbose else "WARNING",
        )
    raise typer.Exit(code)


def _queues(text: str) -> list[str]:
    import re

    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not re.match(QUEUE_NAME, name)]
    if bad or not names:
        raise InvalidInput(Problem("--queues", f"expected queue names, got {text!r}"))
    return names


def beat(verbose: Verbose = False) -> None:
    """Send the reaper, reconciler and housekeeping tasks on schedule. Run exactly one."""
    from dialer.adapters.executor.celery_worker import run_beat

    _logging(verbose)
    settings = _checked(distributed_settings)
    run_beat(settings, loglevel="INFO" if verbose else "WARNING")


# ---------------------------------------------------------------- dead letters

dlq = typer.Typer(
    help="The dead-letter queue: jobs that still failed after their retries.",
    no_args_is_help=True,
)
TenantOption = Annotated[
    int | None, typer.Option("--tenant-id", help="Only this tenant's letters (default: all).")
]


@dlq.command("list")
def dlq_list(
    include_closed: Annotated[
        bool, typer.Option("--all", help="Also the replayed and discarded ones.")
    ] = False,
    after: Annotated[int, typer.Option(min=0, help="Letters after this id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    tenant_id: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dead letters, oldest first, with their cause and number of tries."""

    async def read() -> list[DeadLetter]:
        async with open_store(load_settings()) as store:
            return await dead_letters.list_dead_letters(
                store, tenant_id, after_id=after, limit=limit, include_closed=include_closed
            )

    letters = run_command(read())
    if as_json:
        console.print_json(json.dumps([letter_json(x) for x in letters]))
        return
    table = Table(title="Dead letters")
    for column in ("id", "tenant", "kind", "attempt", "tries", "created", "state", "cause"):
        table.add_column(column)
    for letter in letters:
        row = letter_json(letter)
        table.add_row(
            *(str(row[k]) for k in ("id", "tenant_id", "kind", "attempt_id", "attempts")),
            f"{letter.created_at:%Y-%m-%d %H:%M:%S}",
            row["state"],
            letter.cause[:80],
        )
    console.print(table)


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    state = "open"
    if letter.replayed_at is not None:
        state = "replayed"
    elif letter.discarded_at is not None:
        state = "discarded"
    return {
        "id": letter.id,
        "tenant_id": letter.tenant_id,
        "kind": letter.kind,
        "attempt_id": letter.payload.get("attempt_id"),
        "attempts": letter.attempts,
        "cause": letter.cause,
        "state": state,
        "created_at": letter.created_at.isoformat(),
        "payload": letter.payload,
    }


@dlq.command("replay")
def dlq_replay(
    letter_id: Annotated[int, typer.Argument(help="The dead letter's id.")],
    tenant_id: TenantOption = None,
) -> None:
    """Finish what the letter's job could not: an unsent call goes back to the queue."""

    async def go() -> DeadLetter:
        async with open_runtime(load_settings()) as runtime:
            return await dead_letters.replay(runtime.services, letter_id, tenant_id)

    letter = run_command(go())
    console.print(f"Dead letter {letter.id} replayed.")


@dlq.command("discard")
def dlq_discard(
    letter_id: Annotated[int, typer.Argument(help="The dead letter's id.")],
    tenant_id: TenantOption = None,
) -> None:
    """Close the letter without doing anything."""

    async def go() -> DeadLetter:
        async with open_store(load_settings()) as store:
            return await dead_letters.discard(store, letter_id, tenant_id)

    letter = run_command(go())
    console.print(f"Dead letter {letter.id} discarded.")
