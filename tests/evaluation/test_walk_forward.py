"""Walk-forward harness: oracle series, leaky features, shifted models, context rows."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import WalkForwardConfig
from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import classification_metrics
from mlpkg.evaluation.splits import walk_forward_splits
from mlpkg.evaluation.walk_forward import (
    PREDICTION_COLUMNS,
    ModelSpec,
    fits_frame,
    run_walk_forward,
)
from mlpkg.models import (
    LogisticDirectionClassifier,
    LSTMDirectionClassifier,
    MajorityClassBaseline,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keras loads lazily, at the first fit


def _candles(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A geometric random walk: no feature built from the past can predict its direction."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=n_rows, freq="h", tz="UTC", name="open_time")
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_rows)))
    return pd.DataFrame({"close": close}, index=index)


def _features(candles: pd.DataFrame, *, leak: bool = False) -> pd.DataFrame:
    close = candles["close"]
    features = {f"return_{k}": close.pct_change(k) for k in (1, 3, 5)}
    features["volatility_10"] = close.pct_change().rolling(10).std()
    if leak:
        features["next_return_1"] = close.shift(-1) / close - 1.0  # uses close[t+1]
    return pd.DataFrame(features)


def _labels(candles: pd.DataFrame, horizon: int) -> pd.DataFrame:
    close = candles["close"]
    future = close.shift(-horizon)
    direction = (future > close).astype("float64").where(future.notna())
    return pd.DataFrame({"y": direction, "future_return": future / close - 1.0})


def _dataset(n_rows: int, horizon: int, *, leak: bool = False, seed: int = 0):
    candles = _candles(n_rows, seed)
    frame = pd.concat([_features(candles, leak=leak), _labels(candles, horizon)], axis=1).dropna()
    X = frame.drop(columns=["y", "future_return"])
    return X, frame["y"], frame["future_return"]


def _lookahead_columns(build, candles: pd.DataFrame, cuts) -> set[str]:
    """Columns whose value at row t changes when the candles after t are removed."""
    full = build(candles)
    flagged = set()
    for cut in cuts:
        partial = build(candles.iloc[: cut + 1]).iloc[cut]
        for column, value in full.iloc[cut].items():
            if not np.isclose(value, partial[column], equal_nan=True):
                flagged.add(column)
    return flagged


class _Oracle:
    """Reads the label from the 'oracle' column; optionally shifted by one row (a bug)."""

    def __init__(self, shift: int = 0, context: int = 0) -> None:
        self.shift, self.context = shift, context

    @property
    def context_rows(self) -> int:
        return self.context

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        p_up = np.array(X["oracle"].shift(self.shift), dtype=float)
        p_up[: self.context] = np.nan  # like the LSTM: no score without full history
        return np.column_stack([1 - p_up, p_up])


class _Spy(_Oracle):
    """Records what the harness shows the model."""

    def __init__(self, calls: list, context: int) -> None:
        super().__init__(context=context)
        self.calls = calls

    def fit(self, X, y):
        self.calls.append(("fit", X.index, y.index))
        return self

    def predict_proba(self, X):
        self.calls.append(("predict", X.index, None))
        return super().predict_proba(X)


@pytest.fixture(scope="module")
def oracle_data():
    X, y, future_return = _dataset(700, horizon=1)
    X = X.assign(oracle=y)
    folds = walk_forward_splits(len(X), WalkForwardConfig(n_folds=3), horizon=1, window=3)
    return X, y, future_return, folds


def _specs(**factories) -> dict[str, ModelSpec]:
    """Name -> spec of factories that ignore the seed."""
    return {name: ModelSpec(lambda seed, f=f: f()) for name, f in factories.items()}


def _accuracy(predictions, model):
    rows = predictions[predictions["model"] == model]
    return classification_metrics(rows["y_true"], rows["proba_up"])["accuracy"]


def test_output_is_long_format_with_one_row_per_model_and_test_row(oracle_data):
    X, y, future_return, folds = oracle_data
    messages = []
    models = _specs(oracle=_Oracle, majority=MajorityClassBaseline)
    predictions = run_walk_forward(X, y, future_return, models, folds, progress=messages.append)

    assert tuple(predictions.columns) == PREDICTION_COLUMNS
    assert len(predictions) == 2 * sum(f.test_rows for f in folds)
    for fold in folds:
        rows = predictions[(predictions["fold"] == fold.index) & (predictions["model"] == "oracle")]
        assert (rows["open_time"].to_numpy() == X.index[fold.test_start : fold.test_end]).all()
        # Nixtla's meaning: the cutoff is the last timestamp the fold's models trained on.
        assert (rows["cutoff"] == X.index[fold.train_end - 1]).all()
        assert (rows["cutoff"] < rows["open_time"]).all()
        np.testing.assert_array_equal(rows["y_true"], y.iloc[fold.test_start : fold.test_end])
    assert [(m.kind, m.done, m.total) for m in messages] == [("fit", n, 6) for n in range(1, 7)]
    assert "fold 3/3 majority" in messages[-1].text
    fits = fits_frame(predictions)
    assert len(fits) == 6 and (fits["fit_seconds"] > 0).all()
    assert (fits["train_rows"] == [f.train_rows for f in folds for _ in range(2)]).all()


def test_oracle_logistic_scores_perfectly_on_every_fold(oracle_data):
    X, y, future_return, folds = oracle_data
    models = _specs(
        logistic=lambda: LogisticDirectionClassifier(c=100.0), majority=MajorityClassBaseline
    )
    predictions = run_walk_forward(X, y, future_return, models, folds)

    for _, rows in predictions[predictions["model"] == "logistic"].groupby("fold"):
        result = classification_metrics(rows["y_true"], rows["proba_up"])
        assert result["accuracy"] == 1.0
        assert result["log_loss"] < 0.05
    assert 0.35 < _accuracy(predictions, "majority") < 0.65


def test_predictions_shifted_by_one_row_score_chance_not_perfect(oracle_data):
    X, y, future_return, folds = oracle_data
    models = _specs(
        oracle=_Oracle,
        shifted=lambda: _Oracle(shift=1, context=1),
        needs_history=lambda: _Oracle(context=4),
    )
    predictions = run_walk_forward(X, y, future_return, models, folds)

    assert _accuracy(predictions, "oracle") == 1.0
    assert 0.4 < _accuracy(predictions, "shifted") < 0.6
    assert _accuracy(predictions, "needs_history") == 1.0
    assert not predictions["proba_up"].isna().any()


def test_models_fit_on_training_rows_and_see_only_context_features_before_the_test(oracle_data):
    X, y, future_return, folds = oracle_data
    calls: list = []
    run_walk_forward(X, y, future_return, _specs(spy=lambda: _Spy(calls, context=4)), folds)

    for fold, (fit, predict) in zip(folds, zip(*[iter(calls)] * 2, strict=True), strict=True):
        assert fit[0] == "fit" and predict[0] == "predict"
        assert fit[1].equals(X.index[fold.train_start : fold.train_end])
        assert fit[2].equals(fit[1])  # labels only for the training rows
        assert fit[1].max() < X.index[fold.test_start - fold.purge]
        assert predict[1].equals(X.index[fold.test_start - 4 : fold.test_end])


def test_oracle_lstm_scores_perfectly_proving_windows_are_labelled_at_their_last_row(oracle_data):
    X, y, future_return, folds = oracle_data
    params = {
        "window": 4,
        "units": 8,
        "layers": 1,
        "dropout": 0.0,
        "dense_units": 8,
        "learning_rate": 0.03,
        "epochs": 25,
        "batch_size": 64,
        "patience": 25,
        "purge": 1,
        "seed": 1,
    }
    last = [folds[-1]]
    predictions = run_walk_forward(
        X, y, future_return, _specs(lstm=lambda: LSTMDirectionClassifier(**params)), last
    )

    assert _accuracy(predictions, "lstm") == 1.0


def test_leaky_feature_scores_implausibly_and_the_lookahead_check_flags_it():
    horizon = 3
    honest = _dataset(1500, horizon)
    leaky = _dataset(1500, horizon, leak=True)
    folds = walk_forward_splits(len(honest[0]), WalkForwardConfig(n_folds=3), horizon=3, window=1)
    models = _specs(logistic=LogisticDirectionClassifier)

    honest_acc = _accuracy(run_walk_forward(*honest, models, folds), "logistic")
    leaky_acc = _accuracy(run_walk_forward(*leaky, models, folds), "logistic")

    assert honest_acc < 0.6  # a random walk: nothing to learn from the past
    assert leaky_acc > 0.65  # sign(r[t+1]) agrees with sign(r[t+1..t+3]) ~70% of the time
    candles = _candles(300)
    flagged = _lookahead_columns(lambda c: _features(c, leak=True), candles, range(50, 300, 25))
    assert flagged == {"next_return_1"}


def test_rows_without_a_label_are_context_only_never_fitted_on_or_scored(oracle_data):
    X, y, future_return, folds = oracle_data
    hidden = y.copy()
    hidden.iloc[folds[0].test_start : folds[0].test_start + 7] = np.nan  # e.g. labels over a gap
    hidden.iloc[5:9] = np.nan
    calls: list = []
    models = {"spy": ModelSpec(lambda seed: _Spy(calls, context=0))}
    predictions = run_walk_forward(X, hidden, future_return, models, folds[:1])

    assert len(predictions) == folds[0].test_rows - 7
    assert (
        not predictions["open_time"]
        .isin(X.index[folds[0].test_start : folds[0].test_start + 7])
        .any()
    )
    assert calls[0][1].equals(X.index[folds[0].train_start : folds[0].train_end])


def test_seeded_models_run_per_seed_and_unseeded_ones_are_repeated(oracle_data):
    X, y, future_return, folds = oracle_data
    seen: list[int] = []

    def seeded(seed):
        seen.append(seed)
        return _Oracle()

    models = {"seeded": ModelSpec(seeded, seeded=True), "plain": ModelSpec(lambda s: _Oracle())}
    predictions = run_walk_forward(X, y, future_return, models, folds[:2], seeds=(7, 8))

    assert seen == [7, 8, 7, 8]
    assert set(predictions["seed"]) == {7, 8}
    per_model = predictions.groupby(["model", "seed"]).size()
    assert (per_model == folds[0].test_rows + folds[1].test_rows).all()
    assert len(fits_frame(predictions)) == 2 * 2 + 2  # the unseeded model fits once per fold


def test_non_binary_labels_are_refused(oracle_data):
    X, y, future_return, folds = oracle_data
    with pytest.raises(MlpkgError, match="0/1 labels"):
        run_walk_forward(X, y.replace(1.0, 2.0), future_return, {}, folds)
    with pytest.raises(MlpkgError, match="same index"):
        run_walk_forward(X, y.iloc[1:], future_return, {}, folds)
