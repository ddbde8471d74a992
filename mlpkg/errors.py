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


class CandleIntervalError(DataSourceError):
    """The candles are of another interval than the model was trained on (or cannot be made)."""


class UpstreamUnavailableError(DataSourceError):
    """The upstream core service is down, timed out or answered garbage."""


class ModelNotFoundError(MlpkgError):
    """No registered model (or alias) exists for a pair."""


class ChallengerNotFoundError(MlpkgError):
    """The pair has no live challenger (pending or decided since start)."""


class ModelLoadError(MlpkgError):
    """A model artifact exists but cannot be loaded (corrupt, wrong feature count, ...)."""


class NotFittedError(MlpkgError):
    """An estimator was used before ``fit``."""


class UnknownMemberError(MlpkgError):
    """A served version does not hold the member a request asked for (``?model=gru``).

    Attributes:
        members: The members the version holds.
    """

    def __init__(self, message: str, members: list[str]) -> None:
        super().__init__(message)
        self.members = members


class ClusterUnavailableError(MlpkgError):
    """The Ray cluster to join cannot be reached (``--address`` / ``RAY_ADDRESS``)."""


class StudyStorageError(MlpkgError):
    """The Optuna study storage cannot be opened (``MLPKG_STUDY_STORAGE``)."""


class StudyNotFoundError(MlpkgError):
    """A study to resume does not exist in the study storage."""


class StorageError(MlpkgError):
    """The prediction or job store cannot be opened, read or written."""


class JobNotFoundError(StorageError):
    """No job has the given id."""


class JobStateError(StorageError):
    """The job is not in a state that allows the operation (e.g. cancelling a finished job)."""


class JobCancelledError(MlpkgError):
    """A running job was cancelled: its process got SIGTERM or lost its server."""


class OutOfSampleNotFoundError(MlpkgError):
    """A version's run holds no out-of-sample predictions (registered by hand, or too old)."""


class ExportError(MlpkgError):
    """An export did not produce a usable graph (the member is then served by Keras)."""


class RegistryError(MlpkgError):
    """The model registry cannot answer (anything but "not found"): nothing may be decided."""


class CalendarError(ConfigError):
    """A trading calendar or candle interval is unknown, or candles do not fit it."""


class ResultsNotFoundError(MlpkgError):
    """A results folder holds no pooled-comparison summary and no unit files."""


class UnknownModelError(ModelNotFoundError):
    """No model of a pair is registered for the (interval, horizon) asked for (HTTP 404)."""


class LibraryInternalsError(MlpkgError):
    """A private attribute a shim reads is gone from the installed library (an upgrade)."""
