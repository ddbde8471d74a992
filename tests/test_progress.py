"""Progress events and cancellation: separate concerns (mlpkg.progress)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import WalkForwardConfig
from mlpkg.errors import JobCancelledError
from mlpkg.evaluation.splits import walk_forward_splits
from mlpkg.evaluation.walk_forward import ModelSpec, run_walk_forward
from mlpkg.models.baselines import MajorityClassBaseline
from mlpkg.progress import (
    ProgressEvent,
    cannot_stop,
    emit,
    raise_if_stopped,
    stage,
    stop_requested,
    stop_when,
)


def test_an_event_prints_as_its_text_and_serialises_every_field():
    event = ProgressEvent("fit", "fold 1/2 lstm: fit 1.0s on 10 rows", 1, 4)
    assert str(event) == event.text
    assert event.as_dict() == {
        "kind": "fit",
        "text": "fold 1/2 lstm: fit 1.0s on 10 rows",
        "done": 1,
        "total": 4,
    }
    assert stage("holdout") == ProgressEvent("stage", "holdout", None, None)


def test_emit_calls_the_callback_and_tolerates_none():
    seen: list[ProgressEvent] = []
    emit(seen.append, stage("a"))
    emit(None, stage("b"))
    assert seen == [stage("a")]


def test_reporting_progress_never_stops_and_only_the_check_raises():
    flag = {"stop": False}
    seen: list[ProgressEvent] = []
    with stop_when(lambda: flag["stop"]):
        raise_if_stopped("the first fit")  # not asked: passes
        flag["stop"] = True
        emit(seen.append, stage("still reported"))  # reporting is not a checkpoint
        assert seen == [stage("still reported")]
        with pytest.raises(JobCancelledError, match="stopped before the second fit"):
            raise_if_stopped("the second fit")
        with cannot_stop():
            assert not stop_requested()
            raise_if_stopped("registering the final model")  # the final stage never stops
        assert stop_requested()
    assert not stop_requested()  # outside the block nothing stops
    raise_if_stopped("anything")


def test_a_walk_forward_stops_between_fits_when_asked():
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=400, freq="h", tz="UTC")
    X = pd.DataFrame({"f": rng.normal(size=400)}, index=index)
    y = pd.Series((rng.random(400) > 0.5).astype(float), index=index)
    returns = pd.Series(rng.normal(size=400), index=index)
    config = WalkForwardConfig(n_folds=3)
    folds = walk_forward_splits(400, config, horizon=1, window=1)
    models = {"majority": ModelSpec(lambda seed: MajorityClassBaseline(), seeded=False)}
    seen: list[ProgressEvent] = []

    def stop_after_two() -> bool:
        return len(seen) >= 2

    with stop_when(stop_after_two), pytest.raises(JobCancelledError, match="fit 3/3"):
        run_walk_forward(X, y, returns, models, folds, progress=seen.append)
    assert [(e.kind, e.done, e.total) for e in seen] == [("fit", 1, 3), ("fit", 2, 3)]
