"""The Grafana dashboard and the alert rules use only metrics Dialer exposes: every metric
name in their expressions is in the real exposition of a campaign that has run."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from dialer.runner import run_to_end
from tests.support.engine import EngineFactory, contacts, settings, sim_config
from tests.support.metrics import DEPLOY, scrape

METRIC = re.compile(r"\bdialer_[a-zA-Z0-9_:]+")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}


def dashboard_exprs() -> list[str]:
    board = json.loads((DEPLOY / "grafana" / "dialer-dashboard.json").read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def exposed_names(text: str) -> set[str]:
    """Every name a query may use: each sample's, and each family's with its type's suffixes
    (a labelled family with no sample yet is still declared by its TYPE line)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            base = name.removesuffix("_total")
            names |= {name, *(base + suffix for suffix in SUFFIXES.get(kind, ()))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def used(exprs: list[str]) -> Iterator[str]:
    for expr in exprs:
        yield from METRIC.findall(expr)


def test_the_dashboard_is_importable() -> None:
    board: dict[str, Any] = json.loads((DEPLOY / "grafana" / "dialer-dashboard.json").read_text())
    assert isinstance(board["schemaVersion"], int)
    variables = board["templating"]["list"]
    assert [(v["name"], v["type"], v["query"]) for v in variables] == [
        ("datasource", "datasource", "prometheus")
    ]
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"]), panel["title"]


async def test_dashboard_and_alerts_use_only_exposed_metrics(engine: EngineFactory) -> None:
    async with engine(sim=sim_config(error_rate=0.2)) as e:
        campaign = await e.campaign(settings(max_concurrency=3, ramp_up=0), contacts(6))
        await asyncio.wait_for(run_to_end(e.runtime, campaign.id), 60)
        exposed = exposed_names(await scrape(e))
    queried = set(used(dashboard_exprs())) | set(used(alert_exprs()))
    assert len(queried) >= 15  # the expressions were read, not an empty list
    assert queried - exposed == set()
