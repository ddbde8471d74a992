"""Rows kept by calendar, and the time of features + labels on 100k session bars.

Run: ``.venv/bin/python bench/calendars/bench_calendars.py [--rows 100000 --repeats 3]``.

Part 1 builds the default run's dataset from the shipped hourly BTC candles in three shapes:
24/7 (all of them), 24/5 (the FX week: the hours from Friday 22:00 to Sunday 22:00 UTC dropped)
and XNYS (only the hours inside real NYSE sessions), each read with the 24/7 rule (every
missing clock hour a gap: mlpkg before calendars) and with its own calendar.

Part 2 times the session path of a run on ``--rows`` candles (the shipped prices tiled onto the
trading bars of each calendar: hourly for 24/7 and 24/5, 15-minute for XNYS, which has 26 a
session): the calendar check, ``build_features``, ``make_labels`` and the window check, best of
``--repeats`` taken in turn; the goal is within 1.5x of the 24/7 path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import logging
import time

import numpy as np
import pandas as pd
from _machine import describe_machine

from mlpkg.config import FeatureConfig, RunConfig
from mlpkg.data.calendars import get_calendar, interval_length
from mlpkg.data.resample import session_candles
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.features.build import build_features
from mlpkg.features.labels import complete_windows, make_labels
from mlpkg.pipelines.dataset import build_dataset

SHAPES = {"24/7": "1h", "24/5": "1h", "XNYS": "15m"}
START = {"24/7": "2000-01-01", "24/5": "2000-01-02", "XNYS": "2004-01-01"}


def shaped(candles: pd.DataFrame, calendar: str) -> pd.DataFrame:
    ordinals = get_calendar(calendar).bar_ordinals(pd.DatetimeIndex(candles.index), "1h")
    return candles[np.isfinite(ordinals)]


def rows_kept(candles: pd.DataFrame) -> None:
    print("| shape | candles | read as | labelled rows | dropped: label spans a gap | window |")
    print("|---|---:|---|---:|---:|---:|")
    for calendar in SHAPES:
        frame = shaped(candles, calendar)
        for rule in dict.fromkeys(["24/7", calendar]):
            try:
                d = build_dataset(frame, RunConfig.from_flat(calendar=rule))
                kept = f"{int(d.labelled.sum()):,}"
                label, window = f"{d.dropped_label_rows:,}", f"{d.dropped_window_rows:,}"
            except ConfigError:
                kept, label, window = "0 (refused)", "all", "all"
            print(f"| {calendar} | {len(frame):,} | {rule} | {kept} | {label} | {window} |")


def tiled(base: pd.DataFrame, calendar: str, rows: int) -> pd.DataFrame:
    step = interval_length(SHAPES[calendar])
    start = pd.Timestamp(START[calendar], tz="UTC")
    span = step * rows * {"24/7": 1, "24/5": 1.5, "XNYS": 6.0}[calendar] + pd.Timedelta(days=30)
    bars = get_calendar(calendar).trading_bars(start, start + span, step)[:rows]
    reps = -(-rows // len(base))
    frame = pd.concat([base.reset_index(drop=True)] * reps, ignore_index=True).iloc[: len(bars)]
    frame.index = bars
    return frame


def session_path(candles: pd.DataFrame, config: FeatureConfig) -> None:
    candles = session_candles(candles, config, origin="bench")
    calendar, step = get_calendar(config.calendar), interval_length(config.interval)
    build_features(candles, config)
    make_labels(candles["close"], (5,), step, calendar)
    complete_windows(pd.DatetimeIndex(candles.index), step, 60, calendar)


def timings(base: pd.DataFrame, rows: int, repeats: int) -> None:
    """Best of ``repeats`` per calendar, the calendars taken in turn (load spikes hit all)."""
    print(f"\n| calendar | interval | bars | s (best of {repeats}) | s / 100k bars | vs 24/7 |")
    print("|---|---|---:|---:|---:|---:|")
    cases = {}
    for calendar, interval in SHAPES.items():
        config = FeatureConfig(calendar=calendar, interval=interval)
        cases[calendar] = (tiled(base, calendar, rows), config)
        session_path(cases[calendar][0].iloc[:2000], config)  # warm: the schedule is cached
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for calendar, (candles, config) in cases.items():
            started = time.perf_counter()
            session_path(candles, config)
            best[calendar] = min(best[calendar], time.perf_counter() - started)
    reference = best["24/7"] * 100_000 / len(cases["24/7"][0])
    for calendar, seconds in best.items():
        candles, config = cases[calendar]
        per = seconds * 100_000 / len(candles)
        print(
            f"| {calendar} | {config.interval} | {len(candles):,} | {seconds:.3f} | {per:.3f} | "
            f"{per / reference:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(describe_machine())
    candles = load_candles("BTC", "shipped")
    rows_kept(candles)
    timings(candles, args.rows, args.repeats)


if __name__ == "__main__":
    main()
