"""How many rows Parabolic SAR needs to forget where a history starts, on the shipped candles.

Run: ``.venv/bin/python bench/features/sar_resync.py [--span 800] [--every 1]``.
For every start row s (every ``--every`` rows) of each shipped pair, SAR is run on
``candles[s : s + span]`` and compared with the full-history SAR on the same rows (``sar``,
``trend`` and ``af``, exactly). The resync distance is the first row of the run from which every
later row of the run agrees. The service builds features on its last ``warmup_rows + window``
candles, so the worst distance must stay below ``warmup_rows`` (444 with the default config).
Prints the median, 99th percentile and worst distance per pair and overall, and how many runs
never agreed within ``span`` rows.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from mlpkg.config import SHIPPED_PAIRS, FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features.build import warmup_rows
from mlpkg.features.indicators import parabolic_sar_values

log = logging.getLogger("sar_resync")


def resync_distance(full: np.ndarray, run: np.ndarray) -> int:
    """First row from which ``run`` (rows x 3) equals ``full`` on every later row."""
    differs = ~((run == full) | (np.isnan(run) & np.isnan(full))).all(axis=1)
    rows = np.flatnonzero(differs)
    return int(rows[-1]) + 1 if len(rows) else 0


def pair_distances(pair: str, span: int, every: int) -> np.ndarray:
    """Resync distances of every ``every``-th start row of ``pair`` (starts with ``span`` rows)."""
    candles = load_candles(pair, "shipped")
    high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
    full = np.column_stack(parabolic_sar_values(high, low))
    starts = range(0, len(candles) - span + 1, every)
    distances = []
    for start in starts:
        stop = start + span
        run = np.column_stack(parabolic_sar_values(high[start:stop], low[start:stop]))
        distances.append(resync_distance(full[start:stop], run))
    return np.asarray(distances)


def main() -> None:
    """Measure and log the resync distances of every shipped pair."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--span", type=int, default=800)
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("warm-up rows: %d; runs of %d rows", warmup_rows(FeatureConfig()), args.span)
    everything = []
    for pair in SHIPPED_PAIRS:
        distances = pair_distances(pair, args.span, args.every)
        everything.append(distances)
        log.info(
            "%s: %d runs, median %d, p99 %d, worst %d, never %d",
            pair,
            len(distances),
            np.median(distances),
            np.percentile(distances, 99),
            distances.max(),
            int((distances >= args.span).sum()),
        )
    total = np.concatenate(everything)
    log.info(
        "all: %d runs, median %d, p99 %d, worst %d",
        len(total),
        np.median(total),
        np.percentile(total, 99),
        total.max(),
    )


if __name__ == "__main__":
    main()
