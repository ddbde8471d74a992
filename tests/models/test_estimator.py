"""The estimator contract: input checks and the shared base class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import MlpkgError, ModelLoadError
from mlpkg.models import ESTIMATORS, DirectionClassifier, DirectionEstimator, EnsembleClassifier
from mlpkg.models.baselines import BASELINES
from mlpkg.models.estimator import validate_features, validate_target


def _frame(n=6):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame({"a": np.arange(n, dtype=float), "b": 1.0}, index=index)


def test_validate_target_accepts_zero_one_and_nan_as_float64():
    X = _frame()
    y = pd.Series([0, 1, np.nan, 1, 0, np.nan], index=X.index)

    values = validate_target(y, X)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [0, 1, np.nan, 1, 0, np.nan])
    nullable = pd.Series([0, 1, None, 1, 0, None], index=X.index, dtype="Float64")
    np.testing.assert_array_equal(validate_target(nullable, X), values)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, 2, 1, 0, 1], "0, 1 or NaN"),
        ([0, 1, np.inf, 1, 0, 1], "0, 1 or NaN"),
        ([0.5, 1, 0, 1, 0, 1], "0, 1 or NaN"),
        ([np.nan] * 6, "all NaN"),
        (["up", "down", "up", "up", "up", "up"], "numeric"),
    ],
)
def test_validate_target_rejects_other_values(labels, message):
    X = _frame()
    with pytest.raises(MlpkgError, match=message):
        validate_target(pd.Series(labels, index=X.index), X)


def test_validate_features_names_nan_columns_and_checks_the_column_contract():
    X = _frame()
    bad = X.assign(b=[1.0, np.nan, 1.0, 1.0, np.inf, 1.0])

    with pytest.raises(MlpkgError, match=r"2 NaN/inf values \(columns \['b'\]\)"):
        validate_features(bad)
    with pytest.raises(MlpkgError, match="DataFrame"):
        validate_features(X.to_numpy())
    with pytest.raises(ModelLoadError, match=r"missing \['c'\], unexpected \['b'\]"):
        validate_features(X, ["a", "c"])
    assert validate_features(X, ["a", "b"]).dtype == np.float64


@pytest.mark.parametrize("cls", [*ESTIMATORS.values(), *BASELINES.values(), EnsembleClassifier])
def test_every_estimator_class_follows_the_contract(cls):
    assert issubclass(cls, DirectionClassifier)
    assert cls.family
    assert cls.budget_param in {None, "epochs", "n_estimators"}
    instance = cls() if cls is not EnsembleClassifier else cls(members={})
    assert isinstance(instance, DirectionEstimator)


def test_score_is_the_accuracy_over_rows_with_a_score_and_a_label(fitted_cache):
    model, _ = fitted_cache.get("lstm")
    X, y = fitted_cache.data
    predicted = model.predict(X)
    keep = ~np.isnan(predicted) & y.notna().to_numpy()

    expected = np.mean(predicted[keep] == y.to_numpy()[keep])
    assert model.score(X, y) == pytest.approx(expected)
