from __future__ import annotations

import json

import numpy as np
import pytest

from mlpkg.errors import ConfigError
from mlpkg.models import (
    FIXED_WEIGHTS,
    EnsembleClassifier,
    combine,
    fit_convex_weights,
    fixed_weights,
    load_estimator,
)

from .conftest import make_model


def _log_loss(p, y):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_fixed_weights_are_the_replaced_services_renormalised_over_the_neural_members():
    assert FIXED_WEIGHTS == {"lstm": 1.0, "gru": 0.9, "cnn": 0.8, "transformer": 0.7}
    weights = fixed_weights(["lstm", "cnn", "lightgbm"])

    assert weights == pytest.approx({"lstm": 1.0 / 1.8, "cnn": 0.8 / 1.8})
    assert sum(fixed_weights(FIXED_WEIGHTS).values()) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="neural families"):
        fixed_weights(["lightgbm", "logistic"])


def test_combine_is_the_weighted_mixture_and_propagates_nan():
    probas = np.array([[0.2, 0.6], [0.5, 0.9], [np.nan, 0.4]])
    mixed = combine(probas, np.array([0.25, 0.75]))

    np.testing.assert_allclose(mixed[:2], [0.5, 0.8])
    assert np.isnan(mixed[2])


def _members(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.2, 0.8, n)
    y = (rng.uniform(size=n) < truth).astype(float)
    good = np.clip(truth + rng.normal(0, 0.05, n), 0.01, 0.99)
    correlated = np.clip(good + rng.normal(0, 0.05, n), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, n)
    return np.column_stack([good, correlated, noise]), y


def test_convex_weights_are_on_the_simplex_and_never_worse_than_the_best_member():
    probas, y = _members()
    weights = fit_convex_weights(probas, y)
    mixed = combine(probas, weights)

    assert weights.shape == (3,)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[2] < 0.05  # the noise member gets (almost) nothing
    assert _log_loss(mixed, y) <= min(_log_loss(p, y) for p in probas.T) + 1e-12
    assert (mixed >= probas.min(axis=1) - 1e-12).all() and (
        mixed <= probas.max(axis=1) + 1e-12
    ).all()
    np.testing.assert_array_equal(fit_convex_weights(probas, y), weights)  # deterministic


def test_convex_weights_skip_nan_rows_and_handle_one_member():
    probas, y = _members(n=300)
    holey = probas.copy()
    holey[:10, 0] = np.nan
    y = y.copy()
    y[-5:] = np.nan

    np.testing.assert_allclose(
        fit_convex_weights(holey, y), fit_convex_weights(probas[10:-5], y[10:-5])
    )
    np.testing.assert_array_equal(fit_convex_weights(probas[:, :1], y), [1.0])
    with pytest.raises(ConfigError, match="at least one row"):
        fit_convex_weights(np.full((4, 2), np.nan), np.ones(4))


def test_ensemble_combines_its_members_with_normalised_weights(fitted_cache):
    model, _ = fitted_cache.get("ensemble")
    X, _ = fitted_cache.data
    members = model.member_proba(X)

    assert list(members) == ["logistic", "lightgbm", "majority"]
    assert model.context_rows == 4  # the largest member's (lightgbm, window 5)
    np.testing.assert_allclose(model.weights_, [0.5, 0.3, 0.2])
    expected = 0.5 * members["logistic"] + 0.3 * members["lightgbm"] + 0.2 * members["majority"]
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected)
    assert all(not hasattr(m, "feature_names_in_") for m in model.members.values())  # clones


def test_ensemble_saves_members_in_subfolders(fitted_cache, tmp_path):
    model, _ = fitted_cache.get("ensemble")
    model.save(tmp_path / "e")
    record = json.loads((tmp_path / "e" / "estimator.json").read_text())

    assert sorted(p.name for p in (tmp_path / "e" / "members").iterdir()) == [
        "lightgbm",
        "logistic",
        "majority",
    ]
    assert record["state"]["weights"] == pytest.approx(
        {"logistic": 0.5, "lightgbm": 0.3, "majority": 0.2}
    )
    loaded = load_estimator(tmp_path / "e")
    assert loaded.weights == pytest.approx(record["state"]["weights"])


@pytest.mark.parametrize(
    "weights",
    [{"logistic": 1.0}, {"logistic": 1.0, "majority": -1.0}, {"logistic": 0.0, "majority": 0.0}],
)
def test_ensemble_weights_must_name_every_member_and_be_valid(fitted_cache, weights):
    X, y = fitted_cache.data
    members = {"logistic": make_model("logistic"), "majority": make_model("majority")}

    with pytest.raises(ConfigError, match="weight"):
        EnsembleClassifier(members, weights).fit(X, y)


def test_ensemble_without_weights_averages_equally(fitted_cache):
    X, y = fitted_cache.data
    members = {"logistic": make_model("logistic"), "majority": make_model("majority")}
    model = EnsembleClassifier(members).fit(X, y)

    np.testing.assert_allclose(model.weights_, [0.5, 0.5])
