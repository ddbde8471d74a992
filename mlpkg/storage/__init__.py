"""SQLite stores: served predictions with their outcomes, and training jobs."""

from mlpkg.storage.jobs import JobNotFoundError, JobRecord, JobStatus, JobStore
from mlpkg.storage.predictions import (
    PredictionRecord,
    PredictionStore,
    SQLiteStore,
    StorageError,
    target_time,
)

__all__ = [
    "JobNotFoundError",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "PredictionRecord",
    "PredictionStore",
    "SQLiteStore",
    "StorageError",
    "target_time",
]
