"""Diebold-Mariano: rectangular kernel, HLN factor, t reference; size and power by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.significance import (
    autocovariances,
    diebold_mariano,
    dm_statistics,
    hln_factor,
    long_run_variance,
)


def _ma_null(rng: np.random.Generator, draws: int, n: int, horizon: int) -> np.ndarray:
    """Loss differentials of h-step forecasts made every step under H0: MA(h-1), mean 0."""
    shocks = rng.normal(size=(draws, n + horizon - 1))
    return sum(shocks[:, j : j + n] for j in range(horizon))


def test_statistic_by_hand_with_rectangular_kernel_hln_factor_and_t_reference():
    d = np.array([-0.14, -0.3, 0.03, 0.23, 0.44, 0.13, -0.07, -0.14, 0.32, 0.59, 0.18, -0.27])
    n, h = len(d), 3
    centred = d - d.mean()
    gamma = [np.sum(centred[k:] * centred[: n - k]) / n for k in range(h)]
    variance = gamma[0] + 2 * gamma[1] + 2 * gamma[2]  # rectangular over lags 0..h-1
    raw = d.mean() / math.sqrt(variance / n)
    factor = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)

    result = diebold_mariano(d, np.zeros(n), horizon=h, alternative="greater")

    assert result.kernel == "rectangular"
    assert result.stat == pytest.approx(raw * factor)
    assert result.p_value == pytest.approx(stats.t.sf(raw * factor, n - 1))
    assert float(hln_factor(n, h)) == pytest.approx(factor)


def test_bartlett_underestimates_the_long_run_variance_of_equal_ma4_differentials():
    # gamma_k = 5 - k for an MA(4) with unit weights: the true long-run variance is 25.
    gammas = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert long_run_variance(gammas, "rectangular") == pytest.approx(25.0)
    assert long_run_variance(gammas, "bartlett") == pytest.approx(17.0)


def test_falls_back_to_bartlett_when_the_rectangular_variance_is_not_positive():
    d = np.tile([1.0, -1.0], 50) + np.linspace(0, 0.01, 100)  # strong negative lag-1 correlation
    gammas = autocovariances(d, 1)
    assert long_run_variance(gammas, "rectangular") <= 0

    result = diebold_mariano(d, np.zeros_like(d), horizon=2)

    assert result.kernel == "bartlett"
    assert math.isfinite(result.stat)


@pytest.mark.parametrize(("horizon", "n"), [(5, 1000), (1, 500), (10, 2000)])
def test_size_of_the_one_sided_test_is_nominal_under_ma_null(horizon, n):
    rng = np.random.default_rng(20261201 + horizon)
    d = _ma_null(rng, 2000, n, horizon)
    _, one_sided, _ = dm_statistics(d, horizon, "less")
    _, two_sided, _ = dm_statistics(d, horizon, "two-sided")

    assert 0.03 <= float((one_sided < 0.05).mean()) <= 0.07
    assert 0.03 <= float((two_sided < 0.05).mean()) <= 0.07


def test_bartlett_alone_would_over_reject_the_same_nulls():
    rng = np.random.default_rng(7)
    horizon, n = 5, 1000
    d = _ma_null(rng, 2000, n, horizon)
    gammas = autocovariances(d, horizon - 1)
    stat = d.mean(axis=1) / np.sqrt(long_run_variance(gammas, "bartlett") / n)
    rejected = stats.t.cdf(stat * hln_factor(n, horizon), n - 1) < 0.05

    assert float(rejected.mean()) > 0.08  # the defect this module fixes


def test_power_a_real_difference_of_known_size_is_detected():
    rng = np.random.default_rng(3)
    horizon, n = 5, 1000
    d = _ma_null(rng, 2000, n, horizon) - 0.5  # a beats b by 0.5 per row (sd of d is sqrt(5))
    _, p_value, _ = dm_statistics(d, horizon, "less")

    assert float((p_value < 0.05).mean()) > 0.9
    _, wrong_way, _ = dm_statistics(-d, horizon, "less")
    assert float((wrong_way < 0.05).mean()) < 0.01


def test_identical_losses_give_no_evidence_and_the_test_is_antisymmetric():
    loss = np.random.default_rng(0).exponential(size=100)
    same = diebold_mariano(loss, loss.copy(), horizon=5, alternative="two-sided")
    assert same.stat == 0.0 and same.p_value == 1.0

    rng = np.random.default_rng(1)
    b = rng.exponential(size=300)
    a = b - 0.3 + rng.normal(0, 0.2, 300)
    forward = diebold_mariano(a, b, horizon=3)
    assert forward.stat < -5 and forward.p_value < 1e-6
    assert forward.mean_diff == pytest.approx(float(np.mean(a - b)))
    assert diebold_mariano(b, a, horizon=3).stat == pytest.approx(-forward.stat)


@pytest.mark.parametrize(
    ("a", "b", "horizon", "message"),
    [
        (np.ones(10), np.ones(9), 1, "equal-length"),
        (np.ones(4), np.ones(4), 5, "at least horizon"),
        (np.array([1.0, np.nan, 1.0, 2.0]), np.ones(4), 1, "finite"),
        (np.ones(10), np.ones(10), 0, "horizon must be"),
    ],
)
def test_bad_inputs_are_refused_clearly(a, b, horizon, message):
    with pytest.raises(MlpkgError, match=message):
        diebold_mariano(a, b, horizon)
