"""mlpkg: short-horizon price direction of crypto pairs, researched honestly and served.

The notebook-level verbs live here, so a quant types ``import mlpkg`` and::

    candles = mlpkg.load_candles("BTC")            # the configured source (MLPKG_DATA_SOURCE)
    features = mlpkg.build_features(candles)       # 54 scale-free features, no look-ahead
    mlpkg.check_lookahead(candles)                 # proves it: truncation changes nothing
    development = mlpkg.evaluate("BTC", models="lstm,lightgbm")   # development folds only
    result = mlpkg.train("BTC", models="logistic,lightgbm")       # + holdout, rule, registry
    bundle = mlpkg.load_model("BTC")               # the champion (or a named alias)

Importing ``mlpkg`` is light: each verb imports what it needs when it is called (TensorFlow is
loaded only by the neural families, when they fit or load).
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from mlpkg.config import FeatureConfig
    from mlpkg.pipelines.evaluate import Development
    from mlpkg.pipelines.train import TrainResult
    from mlpkg.tracking.bundle import ModelBundle

try:
    __version__ = metadata.version("mlpkg")
except metadata.PackageNotFoundError:  # a source tree without an install
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "build_features",
    "check_lookahead",
    "evaluate",
    "load_candles",
    "load_model",
    "train",
]


def load_candles(pair: str, source: str | None = None) -> pd.DataFrame:
    """Validated candles of a pair from ``source`` (default: the configured ``MLPKG_DATA_SOURCE``).

    Raises:
        UnknownPairError, DataSourceError, CandleValidationError: see
            ``mlpkg.data.sources.load_candles``.
    """
    from mlpkg.config import get_settings
    from mlpkg.data.sources import load_candles as _load

    settings = get_settings()
    return _load(pair, source or settings.data_source, settings)  # type: ignore[arg-type]


def build_features(candles: pd.DataFrame, config: FeatureConfig | None = None) -> pd.DataFrame:
    """The feature matrix of ``candles`` (default ``FeatureConfig``); NaN only in the warm-up."""
    from mlpkg.config import FeatureConfig
    from mlpkg.features.build import build_features as _build

    return _build(candles, config or FeatureConfig())


def check_lookahead(
    candles: pd.DataFrame,
    config: FeatureConfig | None = None,
    cutoffs: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Recompute the features on truncated histories; return the columns that changed (none).

    Args:
        candles: A candle frame, oldest first.
        config: The feature config (default ``FeatureConfig``).
        cutoffs: Numbers of leading rows to keep (default: ten evenly spaced cuts).

    Returns:
        One row per (column, cutoff) whose past values changed: an empty frame proves that no
        feature reads candles after its own timestamp.
    """
    from mlpkg.config import FeatureConfig
    from mlpkg.features.build import build_features as _build
    from mlpkg.features.lookahead import lookahead_violations

    feature_config = config or FeatureConfig()
    cuts = cutoffs or [len(candles) * k // 10 for k in range(1, 10)]
    return lookahead_violations(lambda c: _build(c, feature_config), candles, cuts, atol=0.0)


def evaluate(pair: str = "BTC", **params: Any) -> Development:
    """Compare ``models`` on the development folds and log the run (never reads the holdout).

    Args:
        pair: The pair.
        **params: Run-config fields by flattened name (``models="lstm,gru"``, ``lstm_epochs=3``).
    """
    from mlpkg.config import RunConfig
    from mlpkg.pipelines.evaluate import evaluate_pair

    development, _ = evaluate_pair(RunConfig.from_flat(pair=pair, **params))
    return development


def train(pair: str = "BTC", **params: Any) -> TrainResult:
    """Develop, score the holdout once, apply the promotion rule, refit and register.

    Args:
        pair: The pair.
        **params: Run-config fields by flattened name.
    """
    from mlpkg.config import RunConfig
    from mlpkg.pipelines.train import train_pair

    return train_pair(RunConfig.from_flat(pair=pair, **params))


def load_model(pair: str = "BTC", alias: str = "champion") -> ModelBundle:
    """Load the pair's registered model behind ``alias`` (``champion`` or ``candidate``).

    Raises:
        ModelNotFoundError: when no version carries that alias (the message says how to fix).
    """
    import tempfile
    from pathlib import Path

    from mlpkg.tracking import registry
    from mlpkg.tracking.runs import configure_tracking

    configure_tracking()
    with tempfile.TemporaryDirectory() as tmp:
        bundle, _ = registry.load_model(pair, alias, Path(tmp))
    return bundle
