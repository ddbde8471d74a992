"""The holdout, scored once: refit the selected candidate on the development period, score it.

The candidate's procedure (members, training budgets chosen on the development folds, weights)
is refit on every development row, with the base seed and without a validation tail, and
scored on the holdout rows. The naive baselines are refit and scored the same way beside it;
they are not candidates and do not count as holdout uses. Logistic, a family the development
folds may select, is not scored on the holdout unless it is the selected candidate: a holdout
score of a candidate that was not selected would be an uncounted use. The current
champion, if any, is re-scored on the same rows after refitting its own procedure on this
development period, so it is never judged on rows it was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.evaluation.promotion import ChampionEvidence
from mlpkg.evaluation.selection import Procedure
from mlpkg.evaluation.splits import block_labels
from mlpkg.evaluation.walk_forward import ModelSpec, fit_and_score
from mlpkg.models import DirectionEstimator
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.models.ensemble import combine
from mlpkg.models.families import make_estimator
from mlpkg.pipelines.dataset import PairDataset, build_dataset, load_references
from mlpkg.pipelines.evaluate import Development, model_specs

log = logging.getLogger(__name__)

HOLDOUT_COLUMNS = ("model", "open_time", "proba_up", "y_true", "future_return", "block")


def member_spec(member: str, config: RunConfig, procedure: Procedure) -> ModelSpec:
    """A member of a procedure with its chosen training budget (no validation tail)."""
    budget = procedure.budgets.get(member, {})
    return ModelSpec(lambda seed: make_estimator(member, config, seed=seed).set_params(**budget))


def fit_procedure(
    procedure: Procedure,
    config: RunConfig,
    dataset: PairDataset,
    train: tuple[int, int],
    scored: tuple[int, int],
) -> tuple[dict[str, DirectionEstimator], np.ndarray, np.ndarray]:
    """Fit every member on rows ``[train)``; return them, the scored positions and combined p."""
    members, probas, positions = {}, [], np.array([], dtype=int)
    for member in procedure.members:
        result = fit_and_score(
            member_spec(member, config, procedure),
            config.seed,
            dataset.X,
            dataset.y,
            train,
            scored,
            member,
        )
        members[member], positions = result.model, result.positions
        probas.append(result.p_up)
    weights = np.asarray([procedure.weights[m] for m in procedure.members], dtype=np.float64)
    return members, positions, combine(np.column_stack(probas), weights / weights.sum())


def _frame(
    dataset: PairDataset, name: str, positions: np.ndarray, p_up: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": name,
            "open_time": dataset.X.index[positions],
            "proba_up": p_up,
            "y_true": dataset.y.to_numpy(dtype=np.float64)[positions],
            "future_return": dataset.future_returns.to_numpy(dtype=np.float64)[positions],
        }
    )


def score_holdout(development: Development, config: RunConfig) -> pd.DataFrame:
    """Refit the candidate and the references on the development period; score the holdout.

    Returns:
        One row per (model, labelled holdout row) with :data:`HOLDOUT_COLUMNS`; ``block``
        numbers the ``holdout_blocks`` time-ordered slices.
    """
    dataset, split = development.dataset, development.split
    train, scored = (0, split.dev_end), (split.start, split.end)
    _, positions, p_up = fit_procedure(development.procedure, config, dataset, train, scored)
    frames = [_frame(dataset, development.procedure.name, positions, p_up)]
    references = model_specs(config)
    for name in NAIVE_BASELINES:
        if name == development.procedure.name:
            continue
        result = fit_and_score(
            references[name], config.seed, dataset.X, dataset.y, train, scored, name
        )
        frames.append(_frame(dataset, name, result.positions, result.p_up))
    holdout = pd.concat(frames, ignore_index=True)
    rows = holdout[holdout["model"] == development.procedure.name]["open_time"]
    blocks = pd.Series(
        block_labels(len(rows), config.holdout.holdout_blocks), index=rows.to_numpy()
    )
    holdout["block"] = blocks.loc[holdout["open_time"].to_numpy()].to_numpy()
    return holdout[list(HOLDOUT_COLUMNS)]


def rescore_champion(
    version: str,
    procedure: Procedure | None,
    champion_config: RunConfig | None,
    config: RunConfig,
    development: Development,
    holdout: pd.DataFrame,
) -> ChampionEvidence:
    """Refit the champion's procedure on this development period and score the same rows.

    The champion's own run config (features, hyperparameters, horizon) and procedure (members,
    budgets, weights) are refit on the candles before this run's development end, and scored on
    this run's labelled holdout rows. Both log losses are taken on the rows both scored.
    """
    if procedure is None or champion_config is None:
        return ChampionEvidence(version, note="its run has no procedure.json/config.json")
    if champion_config.horizon != config.horizon:
        return ChampionEvidence(
            version, note=f"it predicts horizon {champion_config.horizon}, not {config.horizon}"
        )
    candles = development.dataset.candles
    theirs = build_dataset(
        candles,
        champion_config.model_copy(update={"max_rows": 0, "data_end": ""}),
        load_references(champion_config, candles, loaded=development.dataset.references),
    )
    index = theirs.X.index
    train_end = int(index.searchsorted(development.split.dev_end_time))
    start = int(index.searchsorted(development.split.start_time))
    with _champion_pool(champion_config):
        _, positions, p_up = fit_procedure(
            procedure, champion_config, theirs, (0, train_end), (start, len(index))
        )
    return _compare(
        version, _frame(theirs, "champion", positions, p_up), holdout, development.procedure.name
    )


def _champion_pool(champion_config: RunConfig) -> AbstractContextManager[object]:
    """A pooled champion refits on its own pool (its features); any other needs none."""
    if not champion_config.pool.pooled:
        return nullcontext()
    from mlpkg.pipelines.pooled import pooled_context  # imports this module: import when needed

    return pooled_context(champion_config)


def _compare(
    version: str, champion: pd.DataFrame, holdout: pd.DataFrame, candidate: str
) -> ChampionEvidence:
    from mlpkg.evaluation.metrics import log_losses

    ours = holdout[holdout["model"] == candidate].set_index("open_time")
    common = ours.index.intersection(pd.DatetimeIndex(champion["open_time"]))
    if len(common) < 2:
        return ChampionEvidence(version, note="no common holdout rows with the champion")
    theirs = champion.set_index("open_time").loc[common]
    mine = ours.loc[common]
    return ChampionEvidence(
        version,
        log_loss=float(log_losses(theirs["y_true"], theirs["proba_up"]).mean()),
        candidate_log_loss=float(log_losses(mine["y_true"], mine["proba_up"]).mean()),
        note=f"refit on this development period, {len(common)} common holdout rows",
    )


def fit_final(
    procedure: Procedure, config: RunConfig, dataset: PairDataset
) -> tuple[dict[str, DirectionEstimator], Mapping[str, object]]:
    """Refit the procedure on every labelled row (the deployed model sees the newest data).

    Returns:
        The fitted members and a record of the rows they saw (count, first and last open time).
    """
    labelled = np.flatnonzero(dataset.labelled)
    members = {}
    for member in procedure.members:
        estimator = member_spec(member, config, procedure).factory(config.seed)
        members[member] = estimator.fit(dataset.X, dataset.y)
    seen = {
        "rows": len(labelled),
        "first_open_time": str(dataset.X.index[labelled[0]]),
        "last_open_time": str(dataset.X.index[labelled[-1]]),
    }
    return members, seen
