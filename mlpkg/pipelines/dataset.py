"""Turn a pair's candles into the aligned matrices every pipeline uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.calendars import calendar_of, interval_length
from mlpkg.data.resample import reference_candles, session_candles
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.cross_asset import gap_rows, reference_pairs
from mlpkg.features.labels import complete_windows, make_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairDataset:
    """Candles, features and labels of one pair (rows after the feature warm-up).

    ``X`` keeps every row after the warm-up, so model windows read consecutive candles. ``y``
    is NaN on rows that are context only: the last ``horizon`` rows (future unknown), rows
    whose label would span missing candles, and rows whose input window would (see
    :func:`mlpkg.features.labels.complete_windows`). Those rows are never fitted on or scored.

    Attributes:
        dropped_label_rows: Rows whose label spans a gap (excluding the unlabelled tail).
        dropped_window_rows: Labelled rows whose input window spans a gap.
        context_rows: Rows of history the configured families read (``max window - 1``).
        references: The candles of the cross assets' pairs on the run's interval and the pair's
            trading bars (empty without ``cross_assets``).
        calendar: The pair's trading calendar (rows are its trading bars).
    """

    pair: str
    candles: pd.DataFrame
    features: pd.DataFrame
    X: pd.DataFrame
    y: pd.Series
    future_returns: pd.Series
    warmup_rows: int
    interval: pd.Timedelta
    context_rows: int
    dropped_label_rows: int
    dropped_window_rows: int
    references: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    calendar: str = "24/7"

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the rows that are fitted on and scored."""
        return np.asarray(self.y.notna().to_numpy())


def select_candles(candles: pd.DataFrame, config: RunConfig) -> pd.DataFrame:
    """The candles a run reads: up to ``data_end``, then the last ``max_rows``."""
    if config.data_end:
        candles = candles.loc[: pd.Timestamp(config.data_end)]
    if config.max_rows:
        candles = candles.iloc[-config.max_rows :]
    return candles


def build_dataset(
    candles: pd.DataFrame,
    config: RunConfig,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> PairDataset:
    """Build features and the ``direction_h`` label from candles (pure), on trading bars.

    The candles are first put on ``config.interval`` and checked against the pair's calendar
    (``mlpkg.data.resample.session_candles``); closures are not gaps.

    ``references``: the candles of ``reference_pairs(config.features)`` when the run has cross
    assets, put on the same interval and the pair's trading bars before alignment
    (``mlpkg.data.resample.reference_candles``). A row whose cross-asset features read a
    missing reference candle is a gap: it and the rows whose window holds it get no label, and
    its placeholder zeros are never read.

    Raises:
        ConfigError: when too few labelled rows remain after the warm-up.
    """
    # max_rows counts candles of the run's interval: resample first.
    candles = select_candles(session_candles(candles, config.features, origin=config.pair), config)
    interval, calendar = interval_length(config.interval), calendar_of(config.features)
    references = {
        pair: reference_candles(frame, config.features, origin=pair)
        for pair, frame in (references or {}).items()
    }
    features = build_features(candles, config.features, references)
    warm = warmup_rows(config.features)
    gaps = gap_rows(features, warm)
    features = features.where(~pd.Series(gaps, index=features.index), 0.0, axis=0)
    labels = make_labels(candles["close"], (config.horizon,), interval, calendar).iloc[warm:]
    X = features.iloc[warm:]
    direction = labels[f"direction_{config.horizon}"]
    context = config.context_rows()
    tail = np.arange(len(X)) >= len(X) - config.horizon
    gap_label = direction.isna().to_numpy() & ~tail
    # On the candles' own index: a window may reach into the warm-up rows' candles. The span
    # also covers the h-step trailing return (return_h, persistence's input): it counts rows,
    # so across missing trading bars it would be a longer move than h trading bars.
    span = max(context + 1, config.horizon + 1)
    window_ok = complete_windows(pd.DatetimeIndex(candles.index), interval, span, calendar)[warm:]
    touched = np.convolve(gaps.astype(float), np.ones(span))[: len(gaps)] > 0
    window_ok = window_ok & ~touched[warm:]
    y = direction.where(window_ok)
    usable = int(y.notna().sum())
    needed = max(3 * (context + 1), 100)
    if usable < needed:
        raise ConfigError(
            f"{config.pair}: only {usable} labelled rows after a {warm}-row warm-up; need at "
            f"least {needed}. Use more candles (max_rows=0) or a smaller window."
        )
    dataset = PairDataset(
        pair=config.pair,
        candles=candles,
        features=features,
        X=X,
        y=y.astype("float64"),
        future_returns=labels[f"future_return_{config.horizon}"],
        warmup_rows=warm,
        interval=interval,
        context_rows=context,
        dropped_label_rows=int(gap_label.sum()),
        dropped_window_rows=int((direction.notna().to_numpy() & ~window_ok).sum()),
        references=references,
        calendar=calendar.name,
    )
    log.info(
        "%s: %d candles, %d features, %d labelled rows (%d dropped: label spans a gap; %d: "
        "window spans a gap)",
        config.pair,
        len(candles),
        features.shape[1],
        usable,
        dataset.dropped_label_rows,
        dataset.dropped_window_rows,
    )
    return dataset


def prepare_dataset(
    config: RunConfig, settings: Settings | None = None, candles: pd.DataFrame | None = None
) -> PairDataset:
    """Load (unless given) the pair's candles and build its dataset.

    Raises:
        ConfigError: when too few rows remain after the warm-up.
    """
    settings = settings or get_settings()
    if candles is None:
        candles = load_candles(config.pair, config.source, settings)
    return build_dataset(candles, config, load_references(config, candles, settings))


def load_references(
    config: RunConfig,
    candles: pd.DataFrame,
    settings: Settings | None = None,
    loaded: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """The candles of the pairs ``config``'s cross assets read (``candles`` for the pair itself).

    Args:
        config: The run config (its ``features.cross_assets``, ``source`` and ``pair``).
        candles: The pair's own candles.
        settings: Machine settings (default ``get_settings()``).
        loaded: References already loaded: only the others are read.
    """
    have = dict(loaded or {})
    for pair in reference_pairs(config.features):
        if pair not in have:
            have[pair] = (
                candles
                if pair == config.pair
                else load_candles(pair, config.source, settings or get_settings())
            )
    return have
