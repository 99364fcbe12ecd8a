"""Bad settings of a distributed deployment are refused at start, each named, nothing run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dialer.adapters.executor.celery_app import message_priority, queue_for
from dialer.cli.main import app
from dialer.errors import InvalidInput
from dialer.ports import CampaignRoute
from dialer.settings import load_settings

DISTRIBUTED = {
    "DIALER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/nowhere",
    "DIALER_REDIS_URL": "redis://127.0.0.1:6379/0",
    "DIALER_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
}


def test_a_bad_route_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(queue_routes="campaign:ok=fine, shop=queue", default_queue="has space")
    problems = {p.location: p.message for p in caught.value.problems}
    assert problems["DIALER_QUEUE_ROUTES"] == (
        "'shop=queue': expected campaign:NAME=QUEUE or tenant:NAME=QUEUE"
    )
    assert "DIALER_DEFAULT_QUEUE" in problems


def test_routes_pick_the_campaign_then_its_tenant_then_the_default() -> None:
    settings = load_settings(queue_routes="campaign:vip=fast, tenant:acme=acme")
    assert queue_for(CampaignRoute("acme", "vip", 5), settings) == "fast"
    assert queue_for(CampaignRoute("acme", "other", 5), settings) == "acme"
    assert queue_for(CampaignRoute("zeta", "other", 5), settings) == "dialer"


def test_priorities_are_inverted_on_the_redis_broker_only() -> None:
    amqp, redis = "amqp://localhost//", "redis://localhost/0"
    assert [message_priority(p, amqp) for p in (0, 50, 100)] == [0, 4, 9]
    assert [message_priority(p, redis) for p in (0, 50, 100)] == [9, 5, 0]


@pytest.mark.parametrize("command", ["dispatcher", "worker", "beat"])
def test_a_distributed_process_needs_its_servers(command: str) -> None:
    result = CliRunner().invoke(app, [command], env={"DIALER_DATABASE_URL": "sqlite:///x.db"})
    assert result.exit_code == 2
    for variable in ("DIALER_BROKER_URL", "DIALER_REDIS_URL", "DIALER_DATABASE_URL"):
        assert variable in result.output


def test_worker_queues_are_checked() -> None:
    result = CliRunner().invoke(app, ["worker", "--queues", "good, bad name"], env=DISTRIBUTED)
    assert result.exit_code == 2
    assert "--queues: expected queue names, got 'good, bad name'" in result.output
