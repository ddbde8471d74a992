from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.models import LogisticDirectionClassifier


def _frame(signal, labels):
    index = pd.date_range("2024-01-01", periods=len(labels), freq="h", tz="UTC", name="open_time")
    X = pd.DataFrame({"signal": signal, "noise": np.linspace(-1, 1, len(labels))}, index=index)
    return X, pd.Series(labels, index=index, dtype="float64")


def test_logistic_learns_a_linearly_separable_signal():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    X, y = _frame(signal, (signal > 0).astype(float))
    model = LogisticDirectionClassifier(c=10.0).fit(X.iloc[:150], y.iloc[:150])

    assert (model.predict(X.iloc[150:]) == y.iloc[150:].to_numpy()).mean() > 0.95


def test_logistic_scaler_uses_labelled_training_rows_only():
    rng = np.random.default_rng(1)
    X, y = _frame(rng.normal(size=100), rng.integers(0, 2, 100))
    y.iloc[60:] = np.nan
    model = LogisticDirectionClassifier().fit(X, y)

    np.testing.assert_allclose(model.scaler_.mean_, X.iloc[:60].mean().to_numpy())
    assert model.train_rows_ == 60


def test_logistic_matches_scikit_learns_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    X, y = _frame(rng.normal(size=120), rng.integers(0, 2, 120))
    ours = LogisticDirectionClassifier(c=0.5).fit(X, y).predict_proba(X)
    theirs = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    theirs.fit(X.to_numpy(), y.to_numpy().astype(int))

    np.testing.assert_allclose(ours, theirs.predict_proba(X.to_numpy()), atol=1e-12)


def test_logistic_with_one_training_class_predicts_the_prior():
    X, y = _frame(np.arange(6.0), [1, 1, 1, 1, 1, 1])
    model = LogisticDirectionClassifier().fit(X, y)

    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 7 / 8)
    assert model.coef_ is None


def test_logistic_fits_with_one_blas_thread_and_restores_the_pools(monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    during = []
    real_fit = LogisticRegression.fit

    def spying_fit(self, *args, **kwargs):
        during.append(blas_threads())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spying_fit)
    rng = np.random.default_rng(3)
    X, y = _frame(rng.normal(size=80), rng.integers(0, 2, 80))
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine
        before = blas_threads()
        LogisticDirectionClassifier().fit(X, y)
        after = blas_threads()

    assert before and set(before) == {2}
    assert during == [[1] * len(before)], "L-BFGS runs on one BLAS thread"
    assert after == before, "the process's thread pools are restored"
