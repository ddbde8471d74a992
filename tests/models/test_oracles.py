"""Oracle series proving each family's window alignment: the window ending at row t is
labelled y[t], and rows with a NaN label are never training targets.

* A feature equal to the label of its own row must let every family score (near) perfectly
  on later rows: y[t] is inside the window the model reads for row t, and predictions are
  placed at row t. Half of the training rows, at random, have a NaN label and the oracle
  feature set to 1: a model that read NaN labels as 0 would learn P(up | oracle = 1) = 1/3
  and score ~50% (measured: 45-50%).
* A feature equal to the previous row's label (``oracle[t] = y[t-1]``) must not help: the
  window ending at t then holds y[t-window .. t-1] but not y[t], so a model whose targets are
  really aligned with the window's last row scores at chance. (Had a model been trained on the
  window ending at t against an earlier row's label, this feature would be perfect.)

Together they pin the target to exactly the last row of the window. The literal "feature equal
to the next row's label" would help a windowed model (its window ending at t holds that
feature's value at t-1, which is y[t]), so it proves nothing about alignment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .conftest import CLASSES, LEARNED, NEURAL, fitting

N_ROWS, N_TRAIN = 600, 450
# Not the suite's TINY_SECTIONS (tests/support.py), though shaped alike on purpose: the oracle
# must be learnable, so these sizes, rates and epochs are larger and dropout is off.
_NEURAL = {
    "window": 4,
    "dropout": 0.0,
    "dense_units": 8,
    "learning_rate": 0.05,
    "epochs": 3,
    "batch_size": 16,
    "patience": 3,
    "validation_fraction": 0.0,
    "seed": 1,
}
ORACLE_PARAMS = {
    "lstm": {**_NEURAL, "units": 8, "layers": 1},
    "gru": {**_NEURAL, "units": 8, "layers": 1},
    "cnn": {**_NEURAL, "filters": 8, "kernel_size": 2, "layers": 2},
    "transformer": {**_NEURAL, "d_model": 8, "heads": 2, "layers": 1, "ff_units": 8},
    "lightgbm": {
        "window": 4,
        "n_estimators": 50,
        "num_leaves": 4,
        "learning_rate": 0.1,
        "min_child_samples": 5,
        "validation_fraction": 0.0,
        "seed": 1,
    },
    "logistic": {"c": 10.0},
}


def _oracle_frame(lag: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=N_ROWS, freq="h", tz="UTC", name="open_time")
    y = pd.Series(rng.integers(0, 2, N_ROWS).astype("float64"), index=index)
    X = pd.DataFrame(rng.normal(size=(N_ROWS, 2)), index=index, columns=["noise_a", "noise_b"])
    X["oracle"] = y.shift(lag).fillna(0.0)
    return X, y


def _accuracy(model, X, y) -> float:
    p_up = model.predict_proba(X)[N_TRAIN:, 1]
    return float(np.mean((p_up > 0.5) == (y.iloc[N_TRAIN:].to_numpy() > 0.5)))


@pytest.mark.parametrize("name", fitting(LEARNED))
def test_feature_equal_to_the_rows_own_label_scores_perfectly_despite_poisoned_nan_rows(name):
    X, y = _oracle_frame(lag=0)
    train_y = y.iloc[:N_TRAIN].copy()
    poisoned = np.random.default_rng(4).permutation(N_TRAIN)[: N_TRAIN // 2]  # label NaN, oracle 1
    train_y.iloc[poisoned] = np.nan
    X.iloc[poisoned, X.columns.get_loc("oracle")] = 1.0
    model = CLASSES[name](**ORACLE_PARAMS[name]).fit(X.iloc[:N_TRAIN], train_y)

    assert _accuracy(model, X, y) >= 0.95
    if name in NEURAL:  # validation_fraction=0: exactly `epochs` epochs, no early stopping
        assert model.stopping_point_ == model.stopped_epoch_ == len(model.history_["loss"]) == 3
    elif name == "lightgbm":
        assert model.stopping_point_ == model.rounds_run_ == 50


@pytest.mark.parametrize("name", fitting(LEARNED))
def test_feature_equal_to_the_previous_rows_label_does_not_help(name):
    X, y = _oracle_frame(lag=1)
    model = CLASSES[name](**ORACLE_PARAMS[name]).fit(X.iloc[:N_TRAIN], y.iloc[:N_TRAIN])

    assert 0.3 < _accuracy(model, X, y) < 0.7
