"""Drift rules: quantile references, PSI, out-of-range inputs, Wilson and the accuracy floor."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.drift import (
    PSI_THRESHOLD,
    accuracy_floor,
    feature_reference,
    flag_drift,
    noise_floor,
    out_of_range,
    parse_reference,
    psi,
    psi_by_feature,
    reference_distribution,
    wilson_interval,
)

RNG = np.random.default_rng(7)


def test_reference_bins_are_deciles_of_the_training_rows():
    values = RNG.normal(size=10_000)
    ref = feature_reference(values)
    assert len(ref.edges) == 9 and list(ref.edges) == sorted(ref.edges)
    assert np.allclose(ref.expected, 0.1, atol=0.002)
    assert (ref.low, ref.high) == (values.min(), values.max())


def test_repeated_edges_of_a_discrete_feature_are_merged_and_shares_stay_true():
    values = np.array([0.0] * 70 + [1.0] * 20 + [2.0] * 10)
    ref = feature_reference(values)
    assert ref.edges == (0.0, 1.0)
    assert ref.expected == pytest.approx((0.0, 0.7, 0.3))
    assert psi(ref, values) < 0.01


def test_reference_distribution_round_trips_through_json():
    frame = pd.DataFrame({"a": RNG.normal(size=500), "b": RNG.uniform(size=500)})
    data = json.loads(json.dumps(reference_distribution(frame)))
    assert (data["version"], data["bins"], data["rows"]) == (1, 10, 500)
    parsed = parse_reference(data)
    assert set(parsed) == {"a", "b"} and parsed["a"].low == frame["a"].min()
    with pytest.raises(MlpkgError, match="version"):
        parse_reference({**data, "version": 99})
    with pytest.raises(MlpkgError, match="malformed"):
        parse_reference({**data, "features": {"a": {"edges": []}}})


def test_psi_is_the_documented_sum_and_separates_shift_from_noise():
    ref = feature_reference(RNG.normal(size=20_000))
    same = psi(ref, RNG.normal(size=2_000))
    shifted = psi(ref, RNG.normal(loc=1.0, size=2_000))
    wider = psi(ref, RNG.normal(scale=3.0, size=2_000))
    assert same < 0.02 < PSI_THRESHOLD < shifted and wider > PSI_THRESHOLD
    live = np.array([-5.0, 0.0, 0.0, 5.0])
    counts = np.bincount(np.searchsorted(ref.edges, live, side="right"), minlength=10)
    expected = np.asarray(ref.expected) / np.sum(ref.expected)
    actual = (counts + 5 * expected) / (len(live) + 5)  # 0.5 pseudo-candle per bin
    assert psi(ref, live) == pytest.approx(np.sum((actual - expected) * np.log(actual / expected)))
    assert math.isnan(psi(ref, np.array([np.nan])))


def test_psi_by_feature_and_flags_largest_first():
    train = pd.DataFrame({"x": RNG.normal(size=5000), "y": RNG.normal(size=5000)})
    reference = parse_reference(reference_distribution(train))
    live = pd.DataFrame({"x": RNG.normal(size=300), "y": RNG.normal(loc=3, size=300)})
    scores = psi_by_feature(reference, live)
    assert flag_drift(scores) == ["y"]
    assert flag_drift({"a": 0.3, "b": 0.9, "c": 0.1}) == ["b", "a"]
    assert flag_drift({"a": 0.3}, threshold=0.5) == []


def _ar1(n: int, phi: float) -> np.ndarray:
    """A slow, autocorrelated series (like a 50-candle volatility)."""
    shocks = RNG.normal(size=n)
    values = np.empty(n)
    values[0] = shocks[0]
    for i in range(1, n):
        values[i] = phi * values[i - 1] + shocks[i]
    return values


def test_a_slow_feature_gets_a_noise_floor_that_keeps_its_own_windows_unflagged():
    slow, fast = _ar1(6000, 0.995), RNG.normal(size=6000)
    reference = parse_reference(reference_distribution(pd.DataFrame({"slow": slow, "fast": fast})))
    floors = {name: noise_floor(ref, 168) for name, ref in reference.items()}
    assert floors["slow"] > 1.0 > 0.2 > floors["fast"]  # slow windows cover few deciles
    week = pd.DataFrame({"slow": slow[3000:3168], "fast": fast[3000:3168]})
    scores = psi_by_feature(reference, week)
    assert scores["slow"] > 0.2 and flag_drift(scores) == ["slow"]  # 0.2 alone: a false alarm
    assert flag_drift(scores, floors=floors) == []
    shifted = week.assign(fast=week["fast"] * 5)
    assert flag_drift(psi_by_feature(reference, shifted), floors=floors) == ["fast"]


def test_noise_floor_uses_the_stored_window_length_at_or_below_the_one_asked():
    ref = parse_reference(reference_distribution(pd.DataFrame({"x": RNG.normal(size=3000)})))["x"]
    lengths = [length for length, _ in ref.noise]
    assert lengths == [24, 72, 168, 336, 720, 1440]
    values = dict(ref.noise)
    assert noise_floor(ref, 200) == values[168] and noise_floor(ref, 10) == values[24]
    assert values[24] > values[1440]  # shorter windows are noisier
    legacy = {"edges": [0.0], "expected": [0.5, 0.5], "min": -1, "max": 1}  # no noise stored
    old = parse_reference({"version": 1, "features": {"y": legacy}})["y"]
    assert noise_floor(old, 168) == 0.0


def test_out_of_range_names_features_outside_the_training_min_max():
    reference = parse_reference(
        reference_distribution(pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [5.0, 6.0, 7.0]}))
    )
    assert out_of_range(reference, {"a": 2.0, "b": 5.0}) == []
    assert out_of_range(reference, {"a": 2.5, "b": 4.0}) == ["a", "b"]
    assert out_of_range(reference, {"a": float("nan")}) == ["a"]


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [(8, 10, (0.4902, 0.9433)), (0, 10, (0.0, 0.2775)), (50, 100, (0.4038, 0.5962))],
)
def test_wilson_interval_matches_known_values(successes, n, expected):
    low, high = wilson_interval(successes, n)
    assert (low, high) == pytest.approx(expected, abs=1e-4)
    assert wilson_interval(0, 0) is None
    with pytest.raises(MlpkgError):
        wilson_interval(11, 10)


def test_accuracy_floor_is_the_binomial_lower_quantile():
    assert accuracy_floor(0.5, 100) == 0.40
    floor = accuracy_floor(0.55, 200)
    assert (
        stats.binom.cdf(floor * 200 - 1, 200, 0.55)
        < 0.025
        <= stats.binom.cdf(floor * 200, 200, 0.55)
    )
    draws = RNG.binomial(200, 0.55, size=20_000) / 200
    assert (draws < floor).mean() < 0.025
    with pytest.raises(MlpkgError):
        accuracy_floor(1.5, 10)
