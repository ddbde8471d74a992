"""A version's signal policy: positions per signal, round trip, and which thresholds win."""

from __future__ import annotations

import pytest

from mlpkg.errors import ConfigError
from mlpkg.models.signals import (
    FALLBACK_NORMAL,
    FALLBACK_STRONG,
    SignalPolicy,
    signal_thresholds,
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "long_flat",
            {"STRONG_BUY": 1.0, "BUY": 0.5, "HOLD": 0.0, "SELL": 0.0, "STRONG_SELL": 0.0},
        ),
        (
            "long_short",
            {"STRONG_BUY": 1.0, "BUY": 0.5, "HOLD": 0.0, "SELL": -0.5, "STRONG_SELL": -1.0},
        ),
    ],
)
def test_each_signal_stands_for_a_position_in_its_mode(mode, expected):
    policy = SignalPolicy(0.1, 0.3, mode)
    assert {signal: policy.position(signal) for signal in expected} == expected


def test_a_policy_survives_its_json_round_trip():
    policy = SignalPolicy(0.12, 0.4, "long_short", 1.5e-4, "chosen on 4 folds")
    assert SignalPolicy.from_dict(policy.as_dict()) == policy


@pytest.mark.parametrize("data", [{"normal": 0.5, "strong": 0.2}, {"strong": 0.2}, {"normal": "x"}])
def test_a_bad_policy_is_a_config_error_that_says_retrain(data):
    with pytest.raises(ConfigError, match=r"retrain|thresholds"):
        SignalPolicy.from_dict(data)


def test_the_environment_beats_the_policy_which_beats_the_fallback():
    policy = SignalPolicy(0.1, 0.2)
    fallback = {"strong": FALLBACK_STRONG, "normal": FALLBACK_NORMAL}
    assert signal_thresholds(policy, **fallback, overridden=False) == (0.2, 0.1)
    assert signal_thresholds(policy, strong=0.9, normal=0.8, overridden=True) == (0.9, 0.8)
    assert signal_thresholds(None, **fallback, overridden=False) == (0.7, 0.55)
