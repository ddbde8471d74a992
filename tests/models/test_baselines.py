from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import ConfigError
from mlpkg.models import (
    NAIVE_BASELINES,
    AlwaysUpBaseline,
    LogisticDirectionClassifier,
    MajorityClassBaseline,
    PersistenceBaseline,
    default_baselines,
    naive_baselines,
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


def test_nan_labels_are_ignored_not_counted_as_down():
    X, y = _frame(np.zeros(8), [1, 1, 1, np.nan, np.nan, np.nan, 0, np.nan])
    model = MajorityClassBaseline().fit(X, y)

    np.testing.assert_allclose(model.predict_proba(X)[:, 1], (3 + 1) / (4 + 2))
    assert model.train_rows_ == 7


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


def test_persistence_skips_rows_without_a_label():
    returns = [0.01, 0.02, -0.01, 0.0, 0.03, -0.02]
    X, y = _frame(returns, [1, 1, np.nan, np.nan, 0, 0])  # persisted: y y - - n y -> 3 of 4
    model = PersistenceBaseline(column="return_1").fit(X, y)

    assert model.persist_rate_ == pytest.approx((3 + 1) / (4 + 2))


def test_persistence_without_its_column_names_the_available_return_columns():
    X, y = _frame(np.zeros(6), [1, 0, 1, 0, 1, 0])
    with pytest.raises(ConfigError, match=r"return_5.*\['return_1'\]"):
        PersistenceBaseline(column="return_5").fit(X, y)


def test_naive_and_default_baselines_name_every_baseline_and_use_the_horizon_return():
    naive = naive_baselines(3)
    factories = default_baselines(3, logistic_c=0.5)

    assert tuple(naive) == NAIVE_BASELINES == ("majority", "always_up", "persistence")
    assert list(factories) == [*NAIVE_BASELINES, "logistic"]
    assert naive["persistence"]().column == "return_3"
    reference = factories["logistic"]()
    assert isinstance(reference, LogisticDirectionClassifier) and reference.c == 0.5
    with pytest.raises(ValueError, match="Invalid parameter"):
        naive["majority"]().set_params(c=1.0)
