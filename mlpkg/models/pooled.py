"""Pooled fits: one estimator trained on the rows of several pairs, scored on one.

A pooled estimator is its family's estimator (same parameters, same saved format: the saved
model *is* an ``lstm``/``lightgbm``/... model) whose ``fit(X, y)`` also reads the other pairs'
rows of a :class:`Pool`. ``X`` is the trained pair's rows; the other pairs contribute only rows

- at or before ``X``'s last open time (a walk-forward fold's training cutoff, or the
  development end for the holdout fit: never a row from the scored period's time), and
- before their own development end (``dev_end_time``): another pair's holdout is never read.

Rows are interleaved in time chunks (``chunk_rows`` of the trained pair's rows; inside a chunk
one pair after the other), each chunk of a pair preceded by its ``context_rows`` as unlabelled
history, so every window reads one pair's consecutive rows and the early-stopping tail (the last
rows) is the latest period of every pair. With ``indicator`` one-hot ``pair_<PAIR>`` columns
are appended (evaluation only: the served feature window has no such columns). With
``finetune_epochs`` a neural family then trains that many more epochs on the pair's own rows.

The pool reaches ``make_estimator`` through :func:`using_pool` (a context variable set by
``mlpkg.pipelines.pooled``); pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.errors import ConfigError
from mlpkg.models.estimator import DirectionClassifier, validate_features, validate_target
from mlpkg.models.windows import split_targets

CHUNK_ROWS = 720
"""Rows of the trained pair per interleaved time chunk (30 days of hourly candles)."""


@dataclass(frozen=True)
class PoolMember:
    """One pair's rows for pooled fits: its features, labels and development end."""

    pair: str
    X: pd.DataFrame
    y: pd.Series
    dev_end_time: pd.Timestamp

    def readable(self, cutoff: pd.Timestamp) -> int:
        """How many leading rows a fit with training cutoff ``cutoff`` may read."""
        index = self.X.index
        return min(
            int(index.searchsorted(cutoff, side="right")),
            int(index.searchsorted(self.dev_end_time)),
        )


@dataclass(frozen=True)
class Pool:
    """The other pairs' rows a pooled fit of ``pair`` reads, and how it reads them."""

    pair: str
    members: tuple[PoolMember, ...]
    pairs: tuple[str, ...]
    indicator: bool = False
    finetune_epochs: int = 0
    chunk_rows: int = CHUNK_ROWS
    leave_out: bool = False
    """The pooled fit reads none of the pair's labels (cold start: fine-tuning reads them)."""

    def with_indicator(self, X: pd.DataFrame, pair: str | None = None) -> pd.DataFrame:
        """``X`` with one-hot ``pair_<PAIR>`` columns (unchanged without ``indicator``)."""
        if not self.indicator:
            return X
        own = pair or self.pair
        columns = {f"pair_{p.lower()}": float(p == own) for p in self.pairs}
        return X.assign(**columns)


_ACTIVE: ContextVar[Mapping[str, PoolMember] | None] = ContextVar("mlpkg_pool", default=None)


@contextmanager
def using_pool(members: Mapping[str, PoolMember]) -> Iterator[None]:
    """Make ``members`` (pair -> rows) the pool that pooled estimators built inside read."""
    token = _ACTIVE.set(dict(members))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def pool_for(config: RunConfig) -> Pool:
    """The pool of ``config.pair`` from the active pool (every pool pair but itself).

    Raises:
        ConfigError: outside :func:`using_pool`, or when a pool pair's rows are missing.
    """
    active = _ACTIVE.get()
    if active is None:
        raise ConfigError(
            f"{config.pair}: a pooled fit reads the other pairs' rows, and none were loaded. "
            "Run it through mlpkg.pipelines.pooled (mlpkg train/evaluate --pooled)."
        )
    pairs = tuple(dict.fromkeys((*config.pool.pool_pairs, config.pair)))
    missing = [p for p in pairs if p != config.pair and p not in active]
    if missing:
        raise ConfigError(f"The pool lacks the rows of {missing}: load every pool pair.")
    return Pool(
        pair=config.pair,
        members=tuple(active[p] for p in pairs if p != config.pair),
        pairs=pairs,
        indicator=config.pool.pair_indicator,
        finetune_epochs=config.pool.finetune_epochs,
    )


def _pieces(
    X: pd.DataFrame, y: pd.Series, edges: pd.DatetimeIndex, context: int
) -> list[tuple[pd.DataFrame, pd.Series]]:
    """Each time chunk of one pair's rows, preceded by ``context`` unlabelled history rows."""
    bounds = [0, *X.index.searchsorted(edges[1:]).tolist(), len(X)]
    pieces = []
    for start, end in itertools.pairwise(bounds):
        if end <= start:
            continue
        first = max(0, start - context)
        labels = y.iloc[first:end].copy()
        labels.iloc[: start - first] = np.nan
        pieces.append((X.iloc[first:end], labels))
    return pieces


def pooled_rows(
    pool: Pool, X: pd.DataFrame, y: pd.Series, context: int
) -> tuple[pd.DataFrame, pd.Series, dict[str, int]]:
    """The rows a pooled fit on ``X`` reads: its own and the pool's, interleaved by time.

    Returns:
        Features (indicator columns added when asked), labels (NaN for context rows) and the
        labelled rows read per pair.
    """
    cutoff = pd.Timestamp(X.index[-1])
    parts = [(pool.pair, X, y.where(pd.Series(False, index=y.index)) if pool.leave_out else y)]
    for member in pool.members:
        rows = member.readable(cutoff)
        parts.append((member.pair, member.X.iloc[:rows], member.y.iloc[:rows]))
    edges = pd.DatetimeIndex(X.index[:: pool.chunk_rows])
    chunks: list[list[tuple[pd.DataFrame, pd.Series]]] = [[] for _ in range(len(edges))]
    used: dict[str, int] = {}
    for pair, features, labels in parts:
        used[pair] = int(labels.notna().sum())
        for k, piece in enumerate(
            _pieces(pool.with_indicator(features, pair), labels, edges, context)
        ):
            chunks[min(k, len(chunks) - 1)].append(piece)
    ordered = [piece for chunk in chunks for piece in chunk]
    return (
        pd.concat([p[0] for p in ordered]),
        pd.concat([p[1] for p in ordered]),
        used,
    )


class PooledFit(DirectionClassifier):
    """Mixin placed before a family's estimator class (see :func:`pooled_class`)."""

    pool: Pool | None = None

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on the pair's rows and the pool's (then fine-tune on the pair's own rows).

        Raises:
            ConfigError: when no pool is attached.
        """
        if self.pool is None:
            raise ConfigError("This pooled estimator has no pool: build it with make_estimator.")
        features, labels, used = pooled_rows(self.pool, X, y, self.context_rows)
        super().fit(features, labels)
        self.pooled_rows_ = used
        if self.pool.finetune_epochs and hasattr(self, "model_"):
            finetune(self, self.pool.with_indicator(X), y, self.pool.finetune_epochs)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(up) of the pair's rows (the pair's indicator columns added when pooled with them)."""
        if self.pool is not None and X.shape[1] < self.n_features_in_:
            X = self.pool.with_indicator(X)
        return super().predict_proba(X)


_VARIANTS: dict[type[DirectionClassifier], type[DirectionClassifier]] = {}


def pooled_class(cls: type[DirectionClassifier]) -> type[DirectionClassifier]:
    """The pooled variant of an estimator class (same parameters, same family when saved)."""
    if cls not in _VARIANTS:
        _VARIANTS[cls] = type(f"Pooled{cls.__name__}", (PooledFit, cls), {"__module__": __name__})
    return _VARIANTS[cls]


def pooled(estimator: DirectionClassifier, config: RunConfig) -> DirectionClassifier:
    """``estimator`` itself, or its pooled variant with the active pool when the run is pooled.

    Raises:
        ConfigError: for a pooled run outside :func:`using_pool`.
    """
    if not config.pool.pooled:
        return estimator
    params: dict[str, Any] = estimator.get_params(deep=False)
    variant = pooled_class(type(estimator))(**params)
    variant.pool = pool_for(config)
    return variant


def finetune(estimator: Any, X: pd.DataFrame, y: pd.Series, epochs: int) -> None:
    """Train a fitted Keras family ``epochs`` more epochs on one pair's rows (pooled scaler).

    The optimiser state carries on from the pooled fit; early stopping on the pair's own
    validation tail keeps the best weights, as in a normal fit.
    """
    values = validate_features(X, list(estimator.feature_names_in_))
    target = validate_target(y, X)
    split = split_targets(
        target, estimator.window - 1, estimator.validation_fraction, estimator.purge
    )
    budget = estimator.epochs
    estimator.epochs = epochs
    try:
        history = estimator._train(
            estimator.model_, estimator.scaler_.transform(values), target, split
        )
    finally:
        estimator.epochs = budget
    estimator.finetune_history_ = history
