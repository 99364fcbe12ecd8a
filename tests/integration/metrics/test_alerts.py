"""The alert rules are valid, and each alert fires when it should and only then
(deploy/prometheus/alerts_test.yml); the example Prometheus configuration is valid."""

from __future__ import annotations

from tests.support.metrics import DEPLOY, promtool

RULES = DEPLOY / "prometheus"


def test_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", str(RULES / "alerts_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_example_scrape_configuration_is_valid() -> None:
    checked = promtool("check", "config", str(RULES / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
