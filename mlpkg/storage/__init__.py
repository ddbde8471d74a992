"""SQLite stores: served predictions with their outcomes, and training jobs."""

from mlpkg.storage.jobs import (
    STOPPED_REASON,
    JobNotFoundError,
    JobRecord,
    JobStateError,
    JobStatus,
    JobStore,
    JobTrigger,
)
from mlpkg.storage.predictions import (
    PredictionRecord,
    PredictionStore,
    SQLiteStore,
    StorageError,
    target_time,
)

__all__ = [
    "STOPPED_REASON",
    "JobNotFoundError",
    "JobRecord",
    "JobStateError",
    "JobStatus",
    "JobStore",
    "JobTrigger",
    "PredictionRecord",
    "PredictionStore",
    "SQLiteStore",
    "StorageError",
    "target_time",
]
