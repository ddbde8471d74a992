"""Turn a pair's candles into the aligned matrices every pipeline uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.calendars import calendar_of, interval_length
from mlpkg.data.resample import session_candles
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.features.build import build_features, warmup_rows
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


def build_dataset(candles: pd.DataFrame, config: RunConfig) -> PairDataset:
    """Build features and the ``direction_h`` label from candles (pure), on trading bars.

    The candles are first put on ``config.interval`` and checked against the pair's calendar
    (``mlpkg.data.resample.session_candles``); closures are not gaps.

    Raises:
        ConfigError: when too few labelled rows remain after the warm-up.
    """
    # max_rows counts candles of the run's interval: resample first.
    candles = select_candles(session_candles(candles, config.features, origin=config.pair), config)
    interval, calendar = interval_length(config.interval), calendar_of(config.features)
    features = build_features(candles, config.features)
    warm = warmup_rows(config.features)
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
    return build_dataset(candles, config)
