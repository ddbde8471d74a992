from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import ConfigError, ModelLoadError, NotFittedError
from mlpkg.models.baselines import (
    AlwaysUpBaseline,
    LogisticBaseline,
    MajorityClassBaseline,
    PersistenceBaseline,
    default_baselines,
)


def _frame(returns, labels):
    index = pd.date_range("2024-01-01", periods=len(labels), freq="h", tz="UTC", name="open_time")
    X = pd.DataFrame({"return_1": returns, "noise": np.linspace(-1, 1, len(labels))}, index=index)
    return X, pd.Series(labels, index=index, dtype="float64")


def test_majority_predicts_the_smoothed_training_prior():
    X, y = _frame(np.zeros(8), [1, 1, 1, 1, 1, 0, 0, 0])
    model = MajorityClassBaseline().fit(X, y)
    proba = model.predict_proba(X)

    assert model.context_rows == 0
    np.testing.assert_allclose(proba[:, 1], (5 + 1) / (8 + 2))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), np.ones(8))


def test_always_up_decides_up_even_when_down_is_the_majority():
    X, y = _frame(np.zeros(8), [1, 0, 0, 0, 0, 0, 0, 1])
    model = AlwaysUpBaseline().fit(X, y)

    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 0.501)
    np.testing.assert_array_equal(model.predict(X), np.ones(8))
    majority = MajorityClassBaseline().fit(X, y)
    assert (majority.predict(X) == 0).all()


def test_always_up_equals_majority_when_up_is_the_majority():
    X, y = _frame(np.zeros(8), [1, 1, 1, 1, 1, 1, 0, 0])
    up = AlwaysUpBaseline().fit(X, y).predict_proba(X)
    majority = MajorityClassBaseline().fit(X, y).predict_proba(X)

    np.testing.assert_array_equal(up, majority)


def test_persistence_follows_the_last_move_with_the_training_persistence_rate():
    # last move:  up  up  down down up  down up  down (0 counts as down)
    returns = [0.01, 0.02, -0.01, 0.0, 0.03, -0.02, 0.01, -0.01]
    labels = [1, 1, 0, 1, 0, 0, 1, 0]  # persisted: y y y n n y y y -> 6 of 8
    X, y = _frame(returns, labels)
    model = PersistenceBaseline(column="return_1").fit(X, y)
    q = (6 + 1) / (8 + 2)

    assert model.persist_rate_ == pytest.approx(q)
    expected = np.where(np.asarray(returns) > 0, q, 1 - q)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected)
    np.testing.assert_array_equal(model.predict(X), (np.asarray(returns) > 0).astype(float))


def test_persistence_without_its_column_names_the_available_return_columns():
    X, y = _frame(np.zeros(6), [1, 0, 1, 0, 1, 0])
    with pytest.raises(ConfigError, match=r"return_5.*\['return_1'\]"):
        PersistenceBaseline(column="return_5").fit(X, y)


def test_logistic_learns_a_linearly_separable_signal():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    X, y = _frame(signal, (signal > 0).astype(float))
    model = LogisticBaseline(C=10.0).fit(X.iloc[:150], y.iloc[:150])

    assert (model.predict(X.iloc[150:]) == y.iloc[150:].to_numpy()).mean() > 0.95


def test_logistic_scaler_uses_training_rows_only():
    rng = np.random.default_rng(1)
    X, y = _frame(rng.normal(size=100), rng.integers(0, 2, 100))
    model = LogisticBaseline().fit(X.iloc[:60], y.iloc[:60])
    scaler = model.pipeline_.steps[0][1]

    np.testing.assert_allclose(scaler.mean_, X.iloc[:60].mean().to_numpy())


def test_logistic_with_one_training_class_predicts_the_prior():
    X, y = _frame(np.arange(6.0), [1, 1, 1, 1, 1, 1])
    model = LogisticBaseline().fit(X, y)

    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 7 / 8)


@pytest.mark.parametrize(
    "factory", [MajorityClassBaseline, AlwaysUpBaseline, PersistenceBaseline, LogisticBaseline]
)
def test_baselines_check_columns_and_fitted_state(factory):
    X, y = _frame(np.linspace(-1, 1, 10), [0, 1] * 5)
    X = X.rename(columns={"return_1": "return_5"})
    model = factory()
    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    model.fit(X, y)

    with pytest.raises(ModelLoadError, match=r"missing \['noise'\]"):
        model.predict_proba(X.drop(columns="noise"))
    assert model.context_rows == 0
    assert type(model)(**model.get_params()).get_params() == model.get_params()


def test_default_baselines_name_every_baseline_and_use_the_horizon_return():
    factories = default_baselines(3, logistic_c=0.5)

    assert list(factories) == ["majority", "always_up", "persistence", "logistic"]
    assert factories["persistence"]().column == "return_3"
    assert factories["logistic"]().C == 0.5
    with pytest.raises(ConfigError, match="Unknown parameter"):
        factories["majority"]().set_params(C=1.0)
