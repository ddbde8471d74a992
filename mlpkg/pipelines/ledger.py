"""Every command's view of the holdout ledger: where this run's holdout starts, and moving it.

``holdout_start_for`` is what ``evaluate``, ``tune``, ``train`` (and so ``batch``, the
notebooks and the server's jobs, which call them) read: the pair's ledger entry when there is
one, otherwise the start the first training run will record (``holdout_start`` if given, else
``default_holdout_start`` of the run's candle times). ``fix_holdout`` records it the first time
a pair is trained. ``move_holdout`` is the explicit act behind ``mlpkg holdout``: a new holdout
starts after every candle any earlier decision read. ``check_tuned_rows`` refuses a tune whose
development rows reach into a training run's holdout.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.schema import infer_frequency
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.evaluation.splits import configured_holdout_start
from mlpkg.pipelines.dataset import select_candles
from mlpkg.tracking import ledger

log = logging.getLogger(__name__)


def holdout_start_for(
    config: RunConfig, candles: pd.DataFrame, settings: Settings | None = None
) -> tuple[pd.Timestamp, str]:
    """The holdout start of a run on ``candles`` (already selected) and where it comes from.

    Returns:
        The start and ``ledger`` (recorded), ``holdout_start`` (the option, not yet recorded)
        or ``default`` (from the candle times, not yet recorded).

    Raises:
        ConfigError: if ``holdout_start`` is given and differs from the recorded holdout.
    """
    entry = ledger.read_ledger(config.pair, settings).current
    wanted = config.holdout.holdout_start
    if entry is not None:
        if wanted and pd.Timestamp(wanted) != entry.start:
            raise ConfigError(
                f"{config.pair}'s holdout is recorded to start at {entry.start} (ledger entry "
                f"{entry.number}, {entry.how}); holdout_start={wanted} would move it. Moving "
                f"it is explicit: `mlpkg holdout --pair {config.pair} --start {wanted}` "
                "(or --roll), or drop holdout_start."
            )
        return entry.start, "ledger"
    start = configured_holdout_start(pd.DatetimeIndex(candles.index), config.holdout)
    return start, "holdout_start" if wanted else "default"


def fix_holdout(pair: str, start: pd.Timestamp, source: str, settings: Settings | None) -> None:
    """Record the holdout the first time a pair is trained (no-op when already recorded)."""
    if source == "ledger":
        return
    entry = ledger.record_holdout(pair, start, "first-train", f"from {source}", settings)
    log.info("%s: holdout recorded to start at %s (ledger entry 1)", pair, entry.start)


def earliest_new_start(pair: str, settings: Settings | None = None) -> pd.Timestamp | None:
    """The earliest start a moved holdout may have: after every candle decisions read."""
    seen = ledger.read_ledger(pair, settings).seen_until
    return None if seen is None else seen + pd.Timedelta(1, "ns")


def move_holdout(
    pair: str,
    *,
    start: str = "",
    roll: bool = False,
    note: str = "",
    settings: Settings | None = None,
) -> ledger.LedgerEntry:
    """Move a pair's holdout (``mlpkg holdout``) and record the move in the ledger.

    To ``start``, or with ``roll`` to the first candle after every candle an earlier decision
    read (the holdout then fills with candles no decision has seen).

    Raises:
        ConfigError: if neither or both of ``start``/``roll`` are given, or the new start is
            not after every candle an earlier decision read.
    """
    settings = settings or get_settings()
    if bool(start) == roll:
        raise ConfigError("Give exactly one of --start TIME or --roll.")
    earliest = earliest_new_start(pair, settings)
    if roll:
        if earliest is None:
            raise ConfigError(f"{pair}: no decision has read any candle yet; nothing to roll.")
        candles = load_candles(pair, RunConfig(pair=pair).source, settings)
        interval = infer_frequency(pd.DatetimeIndex(candles.index))
        seen = earliest - pd.Timedelta(1, "ns")
        new = seen.floor(interval) + interval
    else:
        new = pd.Timestamp(start)
        new = new.tz_localize("UTC") if new.tzinfo is None else new.tz_convert("UTC")
        if earliest is not None and new < earliest:
            raise ConfigError(
                f"{pair}: a new holdout must start after every candle an earlier decision "
                f"read (up to {earliest - pd.Timedelta(1, 'ns')}); {new} is too early. Use "
                "--roll or a later --start."
            )
    how = "roll" if roll else "start"
    entry = ledger.record_holdout(pair, new, how, note, settings)
    log.info("%s: holdout moved to start at %s (ledger entry %d)", pair, entry.start, entry.number)
    return entry


def tuned_rows(
    config: RunConfig, candles: pd.DataFrame, start: pd.Timestamp, source: str, last: Any
) -> dict[str, str]:
    """The record ``best_trial.json`` keeps of the rows a tune chose on.

    Args:
        config: The tune's run config.
        candles: Its selected candles.
        start: The holdout start it respected.
        source: Where that start came from (``holdout_start_for``).
        last: Open time of its last development row.
    """
    interval = infer_frequency(pd.DatetimeIndex(candles.index))
    reads_until = pd.Timestamp(last) + config.horizon * interval
    return {
        "holdout_start": str(start),
        "holdout_source": source,
        "candles_first": str(candles.index[0]),
        "development_last": str(last),
        "development_reads_until": str(reads_until),
    }


def check_tuned_rows(
    best: Mapping[str, Any], config: RunConfig, settings: Settings | None = None
) -> pd.Timestamp:
    """Refuse a tune whose development rows overlap this training run's holdout.

    A tune's trials chose on rows up to ``development_reads_until`` (the last close their
    labels read); those must all lie before the holdout this run will score.

    Returns:
        This run's holdout start.

    Raises:
        ConfigError: if the tune recorded no development range (made before the ledger), or
            its development rows reach into this run's holdout.
    """
    settings = settings or get_settings()
    candles = select_candles(load_candles(config.pair, config.source, settings), config)
    start, source = holdout_start_for(config, candles, settings)
    reads = best.get("development_reads_until")
    if not reads:
        raise ConfigError(
            "The tune recorded no development range (made before the holdout ledger): re-run "
            "`mlpkg tune` so its best_trial.json says which rows it chose on."
        )
    reads_until = pd.Timestamp(str(reads))
    if reads_until >= start:
        raise ConfigError(
            f"The tune chose its parameters on {config.pair} rows up to {reads_until} "
            f"(holdout it respected: {best.get('holdout_start')}), but this run's holdout "
            f"starts at {start} ({source}): the tune has seen rows this run would call "
            "untouched. Re-run `mlpkg tune` with the same candles (max_rows, data_end) after "
            "the holdout is recorded, or train without --params-from."
        )
    return start
