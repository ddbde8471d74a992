"""Pooled runs: load every pool pair's rows, then train or evaluate one pair through them.

``mlpkg train --pooled`` is ``train_pair`` with every family fitted pooled
(``mlpkg.models.pooled``): each pool pair's dataset is built with the run's own features
(cross assets included), its development end located before its own ledger holdout (recorded
by the first pooled training run that reads a pair with none yet), and the
pair's development folds, holdout, selection, promotion rule and final fit run unchanged. Only
the rows a fit reads grow: the other pairs' development rows up to the fit's own training
cutoff. The run and the registered version record that they are pooled, the pool's pairs and
the labelled rows of each pair the deployed model was fitted on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.errors import ConfigError
from mlpkg.models.pooled import PoolMember, using_pool
from mlpkg.pipelines.dataset import PairDataset, prepare_dataset
from mlpkg.pipelines.evaluate import Development, development_split, evaluate_pair
from mlpkg.pipelines.ledger import fix_holdout, holdout_start_for
from mlpkg.pipelines.train import TrainResult, train_pair
from mlpkg.progress import Progress
from mlpkg.tracking import ledger, registry

log = logging.getLogger(__name__)


def pool_pairs(config: RunConfig) -> tuple[str, ...]:
    """The pairs a pooled fit of ``config.pair`` reads (the pool's, and the pair itself)."""
    return tuple(dict.fromkeys((*config.pool.pool_pairs, config.pair)))


def pool_member(
    dataset: PairDataset, config: RunConfig, holdout_start: pd.Timestamp | None = None
) -> PoolMember:
    """A pair's rows for pooled fits, its development ending before ``holdout_start``.

    ``holdout_start``: the pair's ledger holdout (``mlpkg.pipelines.ledger.holdout_start_for``);
    None places it from the candle times alone, as the pair's first training run would.
    """
    split, _ = development_split(dataset, config, holdout_start)
    return PoolMember(dataset.pair, dataset.X, dataset.y, split.dev_end_time)


def pool_config(config: RunConfig, pair: str) -> RunConfig:
    """``config`` for a pool pair: its pair swapped, its holdout its own (ledger or default).

    The run's ``holdout_start`` names the trained pair's holdout, never another pair's.
    """
    holdout = config.holdout.model_copy(update={"holdout_start": ""})
    return config.model_copy(update={"pair": pair, "holdout": holdout})


def load_pool(
    config: RunConfig, settings: Settings | None = None, *, registering: bool = False
) -> dict[str, PoolMember]:
    """Build every pool pair's dataset with ``config`` and read its holdout from the ledger.

    Each pool pair's holdout is its ledger entry (``holdout_start_for``); a pool pair with none
    yet gets the default its own first training run would record, and a registering run
    (``train``) records it (``fix_holdout``) and marks the development candles it read as
    seen, so the pooled fit never reads rows a later holdout of that pair may hold.

    Raises:
        ConfigError: when a pool pair has too few rows for the run's holdout settings.
    """
    settings = settings or get_settings()
    members = {}
    for pair in pool_pairs(config):
        if pair == config.pair:
            continue
        theirs = pool_config(config, pair)
        dataset = prepare_dataset(theirs, settings)
        start, source = holdout_start_for(theirs, dataset.candles, settings)
        members[pair] = pool_member(dataset, theirs, start)
        if registering:
            fix_holdout(pair, start, source, settings)
            times = pd.DatetimeIndex(dataset.candles.index)
            read = times[times < start]
            if len(read):
                ledger.record_seen(pair, read[-1], settings)
        log.info(
            "%s: pool pair %s, holdout from %s (%s), development rows before %s",
            config.pair,
            pair,
            start,
            source,
            members[pair].dev_end_time,
        )
    return members


def check_pooled(config: RunConfig, *, registering: bool) -> RunConfig:
    """The run config with ``pooled`` set; refuse what cannot be registered and served.

    Raises:
        ConfigError: for a registered model with the pair indicator (the served feature window
            has no pair columns), or a pool with no other pair.
    """
    if registering and config.pool.pair_indicator:
        raise ConfigError(
            "pair_indicator is for evaluation (mlpkg evaluate --pooled, the benchmark): a "
            "registered model is served from the pair's own feature window. Drop it to train."
        )
    if len(pool_pairs(config)) < 2:
        raise ConfigError(
            f"The pool of {config.pair} holds no other pair: set pool_pairs, e.g. BTC,ETH,LTC."
        )
    pool = config.pool.model_copy(update={"pooled": True})
    return config.model_copy(update={"pool": pool})


@contextmanager
def pooled_context(
    config: RunConfig,
    settings: Settings | None = None,
    members: Mapping[str, PoolMember] | None = None,
    *,
    registering: bool = False,
) -> Iterator[dict[str, PoolMember]]:
    """Load the pool (unless given) and make it the one pooled estimators read."""
    loaded = (
        dict(members)
        if members is not None
        else load_pool(config, settings, registering=registering)
    )
    with using_pool(loaded):
        yield loaded


def pool_record(config: RunConfig, rows: Mapping[str, int]) -> dict[str, str]:
    """What a pooled version records: that it is pooled, its pairs and rows per pair."""
    return {
        "pooled": "true",
        "pool_pairs": ",".join(pool_pairs(config)),
        "pool_rows": json.dumps(dict(rows), sort_keys=True),
        "pool_rows_total": str(sum(rows.values())),
        "pair_indicator": str(config.pool.pair_indicator).lower(),
        "finetune_epochs": str(config.pool.finetune_epochs),
    }


def final_rows(result: TrainResult) -> dict[str, int]:
    """The labelled rows per pair the deployed members were fitted on (the largest member's)."""
    found: dict[str, int] = {}
    for member in result.bundle.members.values():
        rows = getattr(member, "pooled_rows_", None) or {}
        for pair, count in rows.items():
            found[pair] = max(found.get(pair, 0), int(count))
    return found


# train_pooled and evaluate_pooled repeat the signatures of train_pair and evaluate_pair on
# purpose: the CLI calls whichever the config asks for with the same arguments.
def train_pooled(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train, score the holdout once, decide and register one pair with pooled fits.

    Raises:
        ConfigError: see :func:`check_pooled` and :func:`load_pool`.
    """
    config = check_pooled(config, registering=True)
    settings = settings or get_settings()
    with pooled_context(config, settings, registering=True):
        result = train_pair(config, settings, run_id=run_id, progress=progress)
    record = pool_record(config, final_rows(result))
    registry.tag_version(config.pair, result.version, record, run_id=result.run_id)
    log.info("%s: version %s pooled over %s", config.pair, result.version, record["pool_rows"])
    return result


def evaluate_pooled(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[Development, str]:
    """Evaluate a pair on its development folds with pooled fits (no holdout, no registration)."""
    config = check_pooled(config, registering=False)
    settings = settings or get_settings()
    with pooled_context(config, settings):
        development, evaluate_run_id = evaluate_pair(
            config, settings, run_id=run_id, progress=progress
        )
    registry.tag_version(config.pair, None, pool_record(config, {}), run_id=evaluate_run_id)
    return development, evaluate_run_id
