"""What a tune is asked to do (``TuneRequest``) and what it found (``TuneResult``): plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.pipelines.search_spaces import SearchSpace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_TRIALS = 20


@dataclass(frozen=True)
class TuneRequest:
    """What to tune and how to run it.

    Attributes:
        config: The run config trials start from (pair, horizon, folds, epochs, ...); each
            trial overrides the searched fields, and ``models`` becomes ``(family,)``.
        family: The model family whose space is searched (on resume: optional, to pick
            the latest study of that family).
        trials: Complete + pruned trials the study should hold (default 20; on resume, the
            number recorded when the study started).
        concurrency: Trials at once (default: the cluster's CPUs / ``cpus_per_trial``).
        cpus_per_trial: CPUs reserved per trial; its thread pools are capped to them.
        address: Ray cluster to join (default ``RAY_ADDRESS``, else an embedded local Ray).
        resume: Continue the study named ``study`` (or the latest of pair/family).
        study: Study name (default ``<pair>-<family>-<UTC time>`` for a new study).
        prune: Stop hopeless trials early with ASHA (after ``grace_folds`` folds at least).
        grace_folds: Folds every trial runs before it may be pruned.
        max_failures: Retries of a trial whose worker died or raised.
        space: Search space (default: the family's in ``SEARCH_SPACES``).
    """

    config: RunConfig
    family: str | None = None
    trials: int | None = None
    concurrency: int | None = None
    cpus_per_trial: int = 1
    address: str | None = None
    resume: bool = False
    study: str | None = None
    prune: bool = True
    grace_folds: int = 1
    max_failures: int = 2
    space: SearchSpace | None = None


@dataclass(frozen=True)
class TuneResult:
    """The outcome of a tune, read back from the study.

    Attributes:
        trials: One row per trial (``mlpkg.pipelines.tune.report.trials_frame``).
        figures: Optuna's plots of the study, as logged under ``plots/`` on the parent run.
    """

    study: str
    storage: str
    pair: str
    family: str
    parent_run_id: str
    requested: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    trials: pd.DataFrame = field(repr=False)
    seconds: float = 0.0
    figures: Mapping[str, Figure] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        """A printable summary: counts, the best trial, where it is logged, what to run next."""
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        lines = [
            f"Study {self.study} ({self.storage}): {self.pair} {self.family}, {counts or 'no'} "
            f"trials; {self.requested} requested. Wall time {self.seconds:.1f} s.",
        ]
        if self.best:
            lines += _best_lines(self.best)
        else:
            lines.append("No trial completed every fold, so there is no best trial yet.")
        lines.append(f"MLflow: parent run {self.parent_run_id} in experiment mlpkg/{self.pair}.")
        if self.best:
            lines.append(f"Next: mlpkg train --pair {self.pair} --params-from {self.parent_run_id}")
        return "\n".join(lines)


def _best_lines(best: Mapping[str, Any]) -> list[str]:
    lines = [
        f"Best: trial {best['number']}, mean development-fold log loss "
        f"{best['log_loss']:.5f} (the holdout was not used)."
    ]
    if "holdout_start" in best:
        lines.append(
            f"Holdout respected: starts {best['holdout_start']} ({best.get('holdout_source')}); "
            f"trials chose on rows up to {best.get('development_last')}."
        )
    return lines + [f"  {name} = {value}" for name, value in best["params"].items()]
