"""The provider lines of ``dialer status``: each provider account's circuit breaker
and pacing, as the dispatcher last stored them."""

from __future__ import annotations

from rich.console import Console

from dialer.adapters.store.engine import make_engine
from dialer.adapters.store.sql import SqlStore
from dialer.cli.common import run_command
from dialer.domain.breaker import BreakerState, ProviderHealth
from dialer.settings import load_settings


def describe(health: ProviderHealth) -> str:
    text = f"provider {health.account}: circuit breaker {health.breaker_state.value}"
    if health.breaker_state is BreakerState.OPEN and health.retry_at is not None:
        text += f" until {health.retry_at:%H:%M:%S} UTC"
    text += f" (opened {health.times_opened} times)"
    text += f", pacing {health.rate:g} of {health.ceiling:g} calls/s"
    return text + f", as of {health.updated_at:%Y-%m-%d %H:%M:%S} UTC"


async def provider_health_lines(database_url: str) -> list[str]:
    store = SqlStore(make_engine(database_url))
    try:
        async with store.unit() as uow:
            return [describe(health) for health in await uow.providers.health()]
    finally:
        await store.close()


def print_provider_health(console: Console) -> None:
    for line in run_command(provider_health_lines(load_settings().database_url)):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
