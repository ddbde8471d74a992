"""SQLite stores: served predictions with their outcomes, and training jobs.

The store errors are defined in ``mlpkg.errors`` and re-exported here for the store's callers.
"""

from mlpkg.errors import JobNotFoundError, JobStateError, StorageError
from mlpkg.storage.jobs import (
    STOPPED_REASON,
    JobRecord,
    JobStatus,
    JobStore,
    JobTrigger,
)
from mlpkg.storage.predictions import (
    PredictionRecord,
    PredictionStore,
    target_time,
)
from mlpkg.storage.sqlite import SQLiteStore

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
