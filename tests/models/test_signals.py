from __future__ import annotations

import math

import pytest

from mlpkg.errors import ConfigError, MlpkgError
from mlpkg.models.signals import DirectionPrediction, describe_prediction


@pytest.mark.parametrize(
    ("p_up", "direction", "confidence", "signal"),
    [
        (0.90, "up", 0.8, "STRONG_BUY"),
        (0.85, "up", 0.7, "BUY"),  # confidence 0.7 is not > 0.7
        (0.80, "up", 0.6, "BUY"),
        (0.775, "up", 0.55, "HOLD"),  # confidence 0.55 is not > 0.55
        (0.60, "up", 0.2, "HOLD"),
        (0.50, "down", 0.0, "HOLD"),  # exactly 0.5 is "down", as in the seed service
        (0.20, "down", 0.6, "SELL"),
        (0.10, "down", 0.8, "STRONG_SELL"),
        (0.0, "down", 1.0, "STRONG_SELL"),
        (1.0, "up", 1.0, "STRONG_BUY"),
    ],
)
def test_describe_prediction_matches_the_seed_thresholds(p_up, direction, confidence, signal):
    described = describe_prediction(p_up)

    assert described.probability == p_up
    assert described.direction == direction
    assert described.confidence == pytest.approx(confidence)
    assert described.signal == signal


def test_thresholds_are_configurable():
    assert describe_prediction(0.6, strong=0.3, normal=0.1).signal == "BUY"
    assert describe_prediction(0.3, strong=0.3, normal=0.1).signal == "STRONG_SELL"


def test_as_dict_has_the_response_fields():
    described = describe_prediction(0.9)

    assert isinstance(described, DirectionPrediction)
    assert described.as_dict() == {
        "probability": 0.9,
        "direction": "up",
        "confidence": pytest.approx(0.8),
        "signal": "STRONG_BUY",
    }


@pytest.mark.parametrize("p_up", [math.nan, -0.1, 1.5])
def test_invalid_probability_is_rejected(p_up):
    with pytest.raises(MlpkgError, match="probability"):
        describe_prediction(p_up)


def test_inconsistent_thresholds_are_a_config_error():
    with pytest.raises(ConfigError, match="normal <= strong"):
        describe_prediction(0.7, strong=0.5, normal=0.6)
