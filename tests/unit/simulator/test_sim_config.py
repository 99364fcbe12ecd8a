"""Simulator settings are checked when made and when changed at runtime."""

from __future__ import annotations

import pytest

from dialer.errors import InvalidInput
from dialer.simulator.config import DEFAULT_ACCOUNT_SID, Outcome, SimulatorConfig, config_from


def problems_of(error: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {problem.location for problem in error.value.problems}


def test_the_defaults_are_valid_and_use_the_documented_test_credentials() -> None:
    config = SimulatorConfig()

    assert config.account_sid == DEFAULT_ACCOUNT_SID == "AC" + "0" * 32
    assert config.auth_token == "simulator-token"
    assert sum(config.outcome_mix.values()) == pytest.approx(1.0)


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        SimulatorConfig(
            account_sid="AC123",
            auth_token="",
            speed=0,
            cps=-1,
            ring_min=10,
            ring_max=5,
            talk_mean=-3,
            error_rate=1.5,
            reorder_rate=-0.1,
            outcome_mix={Outcome.ANSWER: 0},
            outcome_overrides={"555-1234": Outcome.BUSY},
        )

    assert problems_of(caught) == {
        "account_sid",
        "auth_token",
        "speed",
        "cps",
        "ring_min",
        "talk_mean",
        "error_rate",
        "reorder_rate",
        "outcome_mix",
        "outcome_overrides.555-1234",
    }


def test_runtime_changes_apply_to_a_copy() -> None:
    config = SimulatorConfig()

    changed = config.updated(
        {"error_rate": 0.5, "cps": 10, "outcome_mix": {"busy": 1}, "outcome_overrides": {}}
    )

    assert (changed.error_rate, changed.cps) == (0.5, 10.0)
    assert changed.outcome_mix == {Outcome.BUSY: 1.0}
    assert config.error_rate == 0.0


def test_fixed_and_unknown_settings_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(InvalidInput) as caught:
        SimulatorConfig().updated({"auth_token": "x", "speed": 2, "colour": "blue"})

    assert problems_of(caught) == {"auth_token", "speed", "colour"}


def test_values_of_the_wrong_type_are_named_with_the_other_bad_values() -> None:
    with pytest.raises(InvalidInput) as caught:
        config_from(
            {
                "cps": "fast",
                "error_rate": True,
                "outcome_mix": {"explode": 1},
                "seed": 1.5,
                "speed": -1,
            }
        )

    assert problems_of(caught) == {"cps", "error_rate", "outcome_mix", "seed", "speed"}


def test_public_settings_hide_the_token() -> None:
    public = SimulatorConfig(outcome_overrides={"+14155550100": Outcome.BUSY}).public()

    assert public["auth_token"] == "***"
    assert public["outcome_overrides"] == {"+14155550100": "busy"}
    assert public["outcome_mix"]["answer"] == 0.6
