"""Errors raised by mlpkg: every message says what is wrong and how to fix it."""

from __future__ import annotations


class MlpkgError(Exception):
    """Base class of every error mlpkg raises on purpose."""


class ConfigError(MlpkgError):
    """A setting or run parameter is invalid."""


class UnknownPairError(MlpkgError):
    """A pair is not configured or has no data."""


class CandleValidationError(MlpkgError):
    """Candles are malformed (unsorted, duplicated, NaN, inconsistent prices, ...)."""


class DataSourceError(MlpkgError):
    """A candle file or data source cannot be read."""


class MissingCandlesError(DataSourceError):
    """The candles a model window needs are missing (a gap); the window is not stretched."""


class UpstreamUnavailableError(DataSourceError):
    """The upstream core service is down, timed out or answered garbage."""


class ModelNotFoundError(MlpkgError):
    """No registered model (or alias) exists for a pair."""


class ModelLoadError(MlpkgError):
    """A model artifact exists but cannot be loaded (corrupt, wrong feature count, ...)."""


class NotFittedError(MlpkgError):
    """An estimator was used before ``fit``."""
