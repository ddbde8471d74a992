"""The live champion/challenger test: the paper's formulas, size under overlap, power, states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.sequential import (
    SequentialConfig,
    confidence_path,
    decide_challenge,
    mixture_rho2,
    running_long_run_variance,
)
from mlpkg.evaluation.significance import autocovariances, long_run_variance


def _ma_differentials(rng, n: int, horizon: int, mean: float = 0.0, sd: float = 0.05):
    """MA(h-1) differentials of h-step outcomes (t(4) innovations), per-candle sd ``sd``."""
    shocks = rng.standard_t(4, size=n + horizon - 1) / math.sqrt(2.0)
    return mean + sd * np.convolve(shocks, np.ones(horizon), mode="valid") / math.sqrt(horizon)


def test_boundary_and_e_value_follow_the_normal_mixture_formulas():
    rng = np.random.default_rng(0)
    d = _ma_differentials(rng, 400, 3, mean=-0.01)
    config = SequentialConfig(horizon=3, alpha=0.05, t_star=1000)
    mean, bound, sd, log_e = confidence_path(d, config)

    t, alpha = 400, 0.05
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / 1000
    lrv = float(long_run_variance(autocovariances(d, 2), "rectangular")[()])
    expected = (
        math.sqrt(lrv) * math.sqrt((t * rho2 + 1) / rho2 * math.log((t * rho2 + 1) / alpha**2)) / t
    )
    assert mixture_rho2(alpha, 1000) == pytest.approx(rho2)
    assert mean[-1] == pytest.approx(d.mean())
    assert sd[-1] == pytest.approx(math.sqrt(max(lrv, float(np.var(d)))))
    assert bound[-1] == pytest.approx(expected * sd[-1] / math.sqrt(lrv))
    # the e-value reaches 1/alpha exactly when |mean| reaches the bound
    crossed = np.abs(mean) >= bound
    assert np.array_equal(crossed[1:], (log_e >= math.log(1 / alpha))[1:])


def test_running_long_run_variance_equals_the_batch_estimate_on_every_prefix():
    rng = np.random.default_rng(1)
    d = _ma_differentials(rng, 60, 5)
    running = running_long_run_variance(d, 5)
    for t in (6, 17, 60):
        gammas = autocovariances(d[:t], 4)
        batch = float(long_run_variance(gammas, "rectangular")[()])
        assert running[t - 1] == pytest.approx(max(batch, gammas[0]), rel=1e-9)


def _rates(horizon: int, gain: float, reps: int, n: int, seed: int, test_h: int | None = None):
    rng = np.random.default_rng(seed)
    config = SequentialConfig(horizon=test_h or horizon, max_candles=n, burn_in=40 * horizon)
    states = [
        decide_challenge(_ma_differentials(rng, n, horizon, mean=-gain), config)
        for _ in range(reps)
    ]
    return sum(s.state == "promoted" for s in states) / reps, states


def test_size_on_null_ma_differentials_checked_after_every_candle():
    # 300 null paths of 2,000 candles at h = 5: at most 5 % may promote (binomial slack: 9 %).
    promoted, _ = _rates(horizon=5, gain=0.0, reps=300, n=2000, seed=2)
    assert promoted <= 0.09


def test_ignoring_the_overlap_promotes_far_more_than_alpha():
    # The same nulls tested as if h were 1: the variance misses the lags and validity breaks.
    promoted, _ = _rates(horizon=5, gain=0.0, reps=300, n=2000, seed=2, test_h=1)
    assert promoted > 0.15


def test_power_on_a_planted_gain_of_ten_millinats():
    promoted, states = _rates(horizon=5, gain=0.010, reps=60, n=3000, seed=3)
    assert promoted >= 0.9
    assert all(s.upper < 0 for s in states if s.state == "promoted")
    assert np.median([s.n for s in states if s.state == "promoted"]) < 2000


def test_a_worse_challenger_is_rejected_by_its_interval():
    rng = np.random.default_rng(4)
    evidence = decide_challenge(_ma_differentials(rng, 3000, 1, mean=0.02), SequentialConfig(1))
    assert evidence.state == "rejected"
    assert evidence.lower > 0
    assert evidence.e_value >= evidence.threshold
    assert evidence.n < evidence.settled  # frozen at the decision


def test_states_during_burn_in_at_the_maximum_and_with_no_data():
    config = SequentialConfig(horizon=2, max_candles=500)
    assert config.warmup == 200
    assert decide_challenge([], config).state == "watching"
    strong = np.full(150, -0.1) + np.random.default_rng(5).normal(0, 0.01, 150)
    early = decide_challenge(strong, config)
    assert early.state == "watching"
    assert "burn-in" in early.reason
    assert decide_challenge(np.r_[strong, strong], config).state == "promoted"
    null = np.random.default_rng(6).normal(0, 0.05, 500)
    at_max = decide_challenge(null, config)
    assert at_max.state == "rejected"
    assert "maximum" in at_max.reason
    assert at_max.n == 500


def test_bad_input_and_settings_raise_clear_errors():
    with pytest.raises(MlpkgError, match="finite"):
        decide_challenge([0.1, math.nan], SequentialConfig(1))
    with pytest.raises(MlpkgError, match="horizon"):
        SequentialConfig(horizon=0)
    with pytest.raises(MlpkgError, match="MLPKG_CHALLENGE_MAX"):
        SequentialConfig(horizon=1, max_candles=0)
