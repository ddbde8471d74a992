"""One battery of estimator checks for every family, baseline and the ensemble.

scikit-learn's own checks are used where they apply to time-series estimators that take a
time-indexed DataFrame and 0/1/NaN labels: the parameter-handling ones below. The checks that
fit on scikit-learn's generated NumPy data (check_dont_overwrite_parameters,
check_estimators_overwrite_params, check_fit_idempotent, check_n_features_in_after_fitting,
check_classifiers_train, ...) are skipped because that data is a bare array of 20-100 rows with
3-class or blob labels: our estimators require a DataFrame (its column names are the feature
contract checked at predict time), binary labels, and windows of history. Their intent
(fit adds only ``_`` attributes and mutates no parameter; refitting is deterministic) is
checked below on our own data. check_estimators_unfitted expects scikit-learn's
NotFittedError; ours is mlpkg.errors.NotFittedError (an MlpkgError with a fix-it message).
"""

from __future__ import annotations

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
)

from mlpkg.errors import MlpkgError, ModelLoadError, NotFittedError
from mlpkg.models import DirectionEstimator, load_estimator

from .conftest import ALL_MODELS, LEARNED, NAN_TAIL, NEURAL, fitting, make_model

# Keras' own save path trips a NumPy 2 deprecation (tf.Variable.__array__ lacks ``copy``).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SKLEARN_CHECKS = [
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_set_params,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_do_not_raise_errors_in_init_or_set_params,
    check_mixin_order,
    check_estimator_tags_renamed,
    check_valid_tag_types,
]
BUDGETED = (*NEURAL, "lightgbm")


def _tol(name: str) -> float:
    return 1e-6 if name in NEURAL or name == "ensemble" else 1e-12


def _p_up(model, X) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ALL_MODELS)
def test_sklearn_checks_that_apply_to_time_series_estimators(name, check):
    check(name, make_model(name))


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_clone_round_trips_params_and_drops_fitted_state(name, fitted_cache):
    model, _ = fitted_cache.get(name)
    copy = clone(model)

    assert type(copy) is type(model)
    assert repr(copy) == repr(model)
    assert copy.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert joblib.hash(copy.get_params()) == joblib.hash(model.get_params())
    assert not hasattr(copy, "feature_names_in_")
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.predict_proba(fitted_cache.data[0])


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_fit_returns_self_and_sets_only_learned_state(name, fitted_cache):
    model, returned = fitted_cache.get(name)
    fresh = make_model(name)
    public = {k for k in vars(model) if not k.startswith("_") and not k.endswith("_")}
    X, y = fitted_cache.data

    assert returned is model
    assert isinstance(model, DirectionEstimator)
    assert public == set(fresh.get_params(deep=False))  # fit added no public attribute
    assert joblib.hash(model.get_params()) == joblib.hash(fresh.get_params())  # nor mutated one
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.n_features_in_ == X.shape[1]
    assert list(model.classes_) == [0.0, 1.0]
    last_label = int(np.flatnonzero(y.notna())[-1])
    assert 0 < model.train_rows_ <= last_label + 1


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_stopping_point_is_within_the_budget_param(name, fitted_cache):
    model, _ = fitted_cache.get(name)

    if name in BUDGETED:
        assert model.budget_param in model.get_params()
        assert 1 <= model.stopping_point_ <= model.get_params()[model.budget_param]
    else:
        assert model.budget_param is None
        assert model.stopping_point_ is None


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_predict_proba_has_a_row_per_input_row_nan_only_in_the_context_rows(name, fitted_cache):
    model, _ = fitted_cache.get(name)
    X, _ = fitted_cache.data
    proba = model.predict_proba(X)
    context = model.context_rows

    assert context == {"ensemble": 4, "logistic": 0}.get(name, 4 if name in LEARNED else 0)
    assert proba.shape == (len(X), 2)
    assert np.isnan(proba[:context]).all()
    assert np.isfinite(proba[context:]).all()
    assert ((proba[context:] > 0) & (proba[context:] < 1)).all()
    np.testing.assert_allclose(proba[context:].sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        model.predict(X)[context:], (proba[context:, 1] > 0.5).astype(float)
    )
    assert np.isnan(model.predict_proba(X.iloc[:context])).all()


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_score_of_row_t_depends_only_on_the_rows_up_to_t(name, fitted_cache):
    model, _ = fitted_cache.get(name)
    X, _ = fitted_cache.data
    full = _p_up(model, X)
    tail = _p_up(model, X.iloc[100:])
    changed = X.copy()
    changed.iloc[150:] += 3.0  # rows after t must not change the score of row t
    context = model.context_rows

    np.testing.assert_allclose(tail[context:], full[100 + context :], atol=_tol(name), rtol=0)
    np.testing.assert_allclose(_p_up(model, changed)[:150], full[:150], atol=_tol(name), rtol=0)


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_same_seed_without_the_unlabelled_tail_gives_identical_probabilities(name, fitted_cache):
    # Same seed => same model (neural: within 1e-6). And fitting with the last labels NaN
    # equals fitting without those rows: they are neither targets nor counted in the
    # validation tail nor seen by the scaler.
    model, _ = fitted_cache.get(name)
    X, y = fitted_cache.data
    short = clone(model).fit(X.iloc[:-NAN_TAIL], y.iloc[:-NAN_TAIL])

    np.testing.assert_allclose(_p_up(short, X), _p_up(model, X), atol=_tol(name), rtol=0)
    assert short.train_rows_ == model.train_rows_
    assert short.stopping_point_ == model.stopping_point_


@pytest.mark.parametrize("name", fitting(NEURAL))
def test_different_seed_gives_different_probabilities(name, fitted_cache):
    model, _ = fitted_cache.get(name)
    X, y = fitted_cache.data
    other = clone(model).set_params(seed=model.seed + 1).fit(X, y)

    assert np.nanmax(np.abs(_p_up(other, X) - _p_up(model, X))) > 1e-4


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_save_load_round_trip_gives_identical_probabilities(name, fitted_cache, tmp_path):
    model, _ = fitted_cache.get(name)
    X, _ = fitted_cache.data
    model.save(tmp_path / "model")
    loaded = load_estimator(tmp_path / "model")
    direct = type(model).load(tmp_path / "model")

    for other in (loaded, direct):
        assert type(other) is type(model)
        assert repr(other) == repr(model)
        np.testing.assert_array_equal(_p_up(other, X), _p_up(model, X))
        assert other.train_rows_ == model.train_rows_
        assert other.stopping_point_ == model.stopping_point_
    record = json.loads((tmp_path / "model" / "estimator.json").read_text())
    assert record["family"] == type(model).family
    assert not list((tmp_path / "model").rglob("*.pkl"))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_unfitted_model_raises_not_fitted(name, fitted_cache, tmp_path):
    X, _ = fitted_cache.data
    model = make_model(name)

    with pytest.raises(NotFittedError, match="fit"):
        model.predict_proba(X)
    with pytest.raises(NotFittedError, match="fit"):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_loading_a_missing_or_foreign_directory_raises_model_load_error(name, tmp_path):
    with pytest.raises(ModelLoadError, match="missing or corrupt"):
        type(make_model(name)).load(tmp_path / "nothing")
    other = make_model("majority").fit(*_small())
    other.save(tmp_path / "majority")
    if name != "majority":
        with pytest.raises(ModelLoadError, match="load_estimator"):
            type(make_model(name)).load(tmp_path / "majority")


def _small():
    index = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    return pd.DataFrame({"return_5": np.arange(6.0)}, index=index), pd.Series(
        [0, 1, 0, 1, 1, np.nan], index=index
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X: X.drop(columns="f2"), r"missing \['f2'\]"),
        (lambda X: X.assign(extra=1.0), r"unexpected \['extra'\]"),
        (lambda X: X[["f1", "f0", "f2", "return_5"]], "different order"),
    ],
)
@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_predict_proba_rejects_wrong_columns_naming_them(name, fitted_cache, change, message):
    model, _ = fitted_cache.get(name)
    X, _ = fitted_cache.data

    with pytest.raises(ModelLoadError, match=message):
        model.predict_proba(change(X))


@pytest.mark.parametrize("name", fitting(ALL_MODELS))
def test_nan_features_are_rejected_naming_the_column(name, fitted_cache):
    model, _ = fitted_cache.get(name)
    X, y = fitted_cache.data
    bad = X.copy()
    bad.iloc[10, 1] = math.nan

    with pytest.raises(MlpkgError, match=r"NaN.*f1"):
        model.predict_proba(bad)
    with pytest.raises(MlpkgError, match=r"NaN.*f1"):
        clone(model).fit(bad, y)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda y: y.iloc[:-1], "same index"),
        (lambda y: y.set_axis(y.index + pd.Timedelta("1h")), "same index"),
        (lambda y: y * 2, "0, 1 or NaN"),
        (lambda y: y.where(y.index == y.index[3], np.inf), "0, 1 or NaN"),
        (lambda y: y * np.nan, "all NaN"),
    ],
)
@pytest.mark.parametrize("name", ALL_MODELS)
def test_fit_rejects_misaligned_or_invalid_labels(name, fitted_cache, labels, message):
    X, y = fitted_cache.data
    with pytest.raises(MlpkgError, match=message):
        make_model(name).fit(X, labels(y))
