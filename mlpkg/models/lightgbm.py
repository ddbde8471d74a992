"""The LightGBM family: gradient-boosted trees on the latest row plus summaries of its window.

For row t and each feature x, the model reads four values computed from the ``window`` rows
``t - window + 1 .. t`` (exactly those rows, nothing before them):

* ``x``: the latest value x[t];
* ``x__wmean``: the mean over the window;
* ``x__wstd``: the population standard deviation over the window (ddof 0);
* ``x__wchange``: the change over the window, x[t] - x[t - window + 1].

With ``window=1`` the summaries are constant, so only the latest row is used. The
``lightgbm`` package is imported inside the methods.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from mlpkg.errors import ModelLoadError
from mlpkg.models.artifacts import corrupt, read_record, restore, write_record
from mlpkg.models.estimator import DirectionClassifier, windowed_fit_inputs

log = logging.getLogger(__name__)

BOOSTER_FILE = "booster.txt"
SUMMARIES: tuple[str, ...] = ("wmean", "wstd", "wchange")
"""The window summaries added per feature (suffixes ``__<name>``), in column order."""
_CHUNK = 2048


def window_summaries(values: np.ndarray, window: int) -> np.ndarray:
    """Return the model's input table: per row, the latest values and their window summaries.

    Args:
        values: ``(n_rows, n_features)`` time-ordered rows.
        window: Rows per window (the window of row t is rows ``t - window + 1 .. t``).

    Returns:
        ``(n_rows, n_features)`` (``window == 1``) or ``(n_rows, 4 * n_features)`` columns
        [latest, mean, std, change]; the summaries are NaN for the first ``window - 1`` rows.
        Each row is computed from its own window alone, so it does not depend on older rows.
    """
    if window == 1:
        return np.array(values, dtype=np.float64)
    n_rows, n_features = values.shape
    table = np.full((n_rows, 4 * n_features), np.nan)
    table[:, :n_features] = values
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    for start in range(0, len(view), _CHUNK):
        part = view[start : start + _CHUNK]
        rows = slice(start + window - 1, start + window - 1 + len(part))
        table[rows, n_features : 2 * n_features] = part.mean(axis=2)
        table[rows, 2 * n_features : 3 * n_features] = part.std(axis=2)
        table[rows, 3 * n_features :] = part[:, :, -1] - part[:, :, 0]
    return table


def summary_names(names: Sequence[str], window: int) -> list[str]:
    """Return the column names of :func:`window_summaries` for features ``names``."""
    names = [str(n) for n in names]
    if window == 1:
        return names
    return names + [f"{n}__{summary}" for summary in SUMMARIES for n in names]


def booster_p_up(booster: Any, values: np.ndarray, window: int, num_threads: int) -> np.ndarray:
    """P(up) of every row of ``values`` with a full window (NaN before), from a fitted booster.

    The one scoring path of the family: the estimator and the server's runtime both call it.
    """
    p_up = np.full(len(values), np.nan)
    if len(values) >= window:
        table = window_summaries(values, window)[window - 1 :]
        predicted = booster.predict(table, num_threads=num_threads)
        p_up[window - 1 :] = np.asarray(predicted, dtype=np.float64)
    return p_up


class LightGBMDirectionClassifier(DirectionClassifier):
    """LightGBM on the latest feature row plus its window summaries (family ``lightgbm``).

    The summaries are described in the module docstring (:func:`window_summaries`). Rows with
    a NaN label are context only. A chronological validation tail (the last
    ``validation_fraction`` of the target rows, ``purge`` rows after the training targets)
    drives early stopping after ``patience`` rounds without a better validation log loss;
    ``validation_fraction=0`` trains exactly ``n_estimators`` rounds. Training is seeded and
    deterministic (``deterministic=True``, ``force_row_wise=True``, ``num_threads`` fixed,
    ``verbose=-1``: nothing on the console).

    Learned state: ``booster_`` (cut at the stopping point), ``stopping_point_`` (best
    iteration; ``n_estimators`` without validation), ``rounds_run_``, ``best_score_``
    (validation log loss at the stopping point, None without validation), ``train_rows_``.

    Args:
        window: Rows summarised per prediction (``context_rows = window - 1``).
        n_estimators: Maximum boosting rounds.
        num_leaves: Leaves per tree.
        learning_rate: Shrinkage.
        min_child_samples: Minimum rows per leaf.
        feature_fraction: Share of columns sampled per tree.
        patience: Early-stopping rounds.
        validation_fraction: Share of the target rows, taken from the end, used for early
            stopping; 0 disables it.
        purge: Rows dropped between the training targets and the validation tail.
        seed: Seed of LightGBM's random choices (column sampling).
        num_threads: Threads LightGBM uses (fixed, so results do not depend on the machine).
    """

    family: ClassVar[str] = "lightgbm"
    budget_param: ClassVar[str | None] = "n_estimators"

    # scikit-learn reads the parameters from this explicit signature (it allows no **kwargs),
    # as in every family's estimator; tests/models/test_families.py holds the defaults equal to
    # LightGBMConfig's.
    def __init__(
        self,
        window: int = 24,
        n_estimators: int = 500,
        num_leaves: int = 15,
        learning_rate: float = 0.03,
        min_child_samples: int = 200,
        feature_fraction: float = 0.7,
        patience: int = 50,
        validation_fraction: float = 0.15,
        purge: int = 0,
        seed: int = 42,
        num_threads: int = 1,
    ) -> None:
        self._keep_params(locals())

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first scored row: ``window - 1``."""
        return int(self.window) - 1

    def _booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on contiguous, time-ordered rows (y: 0, 1, or NaN for a context row).

        Raises:
            MlpkgError: on NaN features, misaligned labels or labels other than 0/1/NaN.
            ConfigError: if there are too few labelled rows for the window and validation split.
        """
        import lightgbm

        values, target, split = windowed_fit_inputs(
            X, y, self.window, self.validation_fraction, self.purge
        )
        table = window_summaries(values, self.window)
        params = self._booster_params()
        names = summary_names(X.columns, self.window)
        train = lightgbm.Dataset(
            table[split.train], target[split.train], feature_name=names, params=params
        )
        options: dict[str, Any] = {}
        if len(split.validation):
            valid = lightgbm.Dataset(
                table[split.validation], target[split.validation], reference=train
            )
            stopper = lightgbm.early_stopping(self.patience, verbose=False)
            options = {"valid_sets": [valid], "valid_names": ["validation"], "callbacks": [stopper]}
        booster = lightgbm.train(
            params, train, num_boost_round=self.n_estimators, keep_training_booster=True, **options
        )
        self.rounds_run_ = int(booster.current_iteration())
        self.stopping_point_ = int(booster.best_iteration) or self.rounds_run_
        scores = booster.best_score.get("validation", {})
        self.best_score_ = float(scores["binary_logloss"]) if scores else None
        cut = booster.model_to_string(num_iteration=self.stopping_point_)
        self.booster_ = lightgbm.Booster(model_str=cut)
        self.train_rows_ = split.train_rows
        self._set_input_state(X.columns)
        log.debug(
            "lightgbm fitted on %d rows: %d rounds run, stopping point %d",
            self.train_rows_,
            self.rounds_run_,
            self.stopping_point_,
        )
        return self

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return booster_p_up(self.booster_, values, self.window, self.num_threads)

    def save(self, path: Path) -> None:
        """Write ``booster.txt`` (LightGBM's text model) and ``estimator.json`` (no pickle).

        Raises:
            NotFittedError: before ``fit``/``load``.
        """
        self._check_fitted()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / BOOSTER_FILE).write_text(self.booster_.model_to_string())
        state = {
            "train_rows": self.train_rows_,
            "stopping_point": self.stopping_point_,
            "rounds_run": self.rounds_run_,
            "best_score": self.best_score_,
        }
        write_record(directory, self, state)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a model written by :meth:`save`.

        Raises:
            ModelLoadError: if a file is missing or corrupt, or the booster's inputs differ
                from the window summaries of the recorded features.
        """
        directory = Path(path)
        record = read_record(directory, cls.family)
        estimator = restore(cls, record, directory)
        try:
            state = record.state
            estimator.train_rows_ = int(state["train_rows"])
            estimator.stopping_point_ = int(state["stopping_point"])
            estimator.rounds_run_ = int(state["rounds_run"])
            best = state["best_score"]
            estimator.best_score_ = None if best is None else float(best)
            expected = summary_names(record.feature_names, int(estimator.window))
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(directory, exc) from exc
        estimator.booster_ = _load_booster(directory / BOOSTER_FILE, expected)
        return estimator


def _load_booster(file: Path, expected: list[str]) -> Any:
    import lightgbm

    try:
        booster = lightgbm.Booster(model_str=file.read_text())
    except (OSError, ValueError, lightgbm.basic.LightGBMError) as exc:
        raise ModelLoadError(
            f"Cannot load the LightGBM model {file} ({type(exc).__name__}: {exc}). The file "
            "is missing or corrupt; retrain the pair or re-download the model."
        ) from exc
    if list(booster.feature_name()) != expected:
        raise ModelLoadError(
            f"Model {file} reads {booster.num_feature()} inputs but its estimator.json implies "
            f"{len(expected)} (features x window summaries): the files come from different "
            "models; retrain it."
        )
    return booster
