"""Configuration in one typed place, in two parts that change for different reasons.

* The machine: ``Settings`` (paths, tracking URI, port, upstream) reads ``MLPKG_*`` environment
  variables; ``get_settings()`` caches it (``mlpkg.config.settings``).
* A run: frozen pydantic models (``FeatureConfig``, one ``ModelSection`` per family,
  ``WalkForwardConfig``, ``HoldoutConfig``, ``PoolConfig``, ``SignalConfig`` inside
  ``RunConfig``) with defaults in code (``mlpkg.config.run``, the sections in
  ``mlpkg.config.families``).

Pair names, calendars, intervals and model keys, which both use, are in ``mlpkg.config.pairs``;
the shared parsers in ``mlpkg.config.base``. Every name is importable from ``mlpkg.config``.
"""

from mlpkg.config.base import Frozen, parse_duration, parse_utc_time, split_list
from mlpkg.config.families import (
    CANDIDATES,
    ENSEMBLES,
    FAMILIES,
    NEURAL_FAMILIES,
    CNNConfig,
    Family,
    GRUConfig,
    LightGBMConfig,
    LogisticConfig,
    LSTMConfig,
    ModelSection,
    NeuralConfig,
    NeuralFamily,
    TransformerConfig,
)
from mlpkg.config.pairs import (
    DEFAULT_CALENDAR,
    DEFAULT_HORIZON,
    DEFAULT_INTERVAL,
    INTERVALS,
    MARKET,
    PAIR_PATTERN,
    SHIPPED_PAIRS,
    USD_TOKENS,
    check_calendar,
    fx_week_open,
    interval_seconds,
    model_key,
    normalize_pair,
    parse_calendars,
    split_model_key,
)
from mlpkg.config.run import (
    FeatureConfig,
    HoldoutConfig,
    PoolConfig,
    RunConfig,
    SignalConfig,
    WalkForwardConfig,
    parse_models,
)
from mlpkg.config.settings import DataSourceName, Settings, get_settings

__all__ = [
    "CANDIDATES",
    "DEFAULT_CALENDAR",
    "DEFAULT_HORIZON",
    "DEFAULT_INTERVAL",
    "ENSEMBLES",
    "FAMILIES",
    "INTERVALS",
    "MARKET",
    "NEURAL_FAMILIES",
    "PAIR_PATTERN",
    "SHIPPED_PAIRS",
    "USD_TOKENS",
    "CNNConfig",
    "DataSourceName",
    "Family",
    "FeatureConfig",
    "Frozen",
    "GRUConfig",
    "HoldoutConfig",
    "LSTMConfig",
    "LightGBMConfig",
    "LogisticConfig",
    "ModelSection",
    "NeuralConfig",
    "NeuralFamily",
    "PoolConfig",
    "RunConfig",
    "Settings",
    "SignalConfig",
    "TransformerConfig",
    "WalkForwardConfig",
    "check_calendar",
    "fx_week_open",
    "get_settings",
    "interval_seconds",
    "model_key",
    "normalize_pair",
    "parse_calendars",
    "parse_duration",
    "parse_models",
    "parse_utc_time",
    "split_list",
    "split_model_key",
]
