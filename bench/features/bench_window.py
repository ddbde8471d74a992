"""Time the features of one serving window: numpy window_features vs pandas build_features.

Run: ``.venv/bin/python bench/features/bench_window.py [--calls 3000] [--rows 60]``.
Both get the last ``warmup_rows + rows`` shipped BTC candles (504 with the defaults), as the
service does for a fresh prediction; ``window_features`` also gets the whole 17.5k-candle
history once (it reads only its tail). Prints the machine and p50 / p90 / p99 per call over
``--calls`` calls (``build_features``: a tenth of them), after a warm-up, plus the share of the
numpy path spent in the Parabolic SAR loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

import numpy as np
from _machine import describe_machine
from _timing import per_call

from mlpkg.config import FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.indicators import parabolic_sar_values
from mlpkg.features.window import window_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=60)
    args = parser.parse_args()
    config, rows = FeatureConfig(), args.rows
    history = load_candles("BTC", "shipped")
    recent = history.iloc[-(warmup_rows(config) + rows) :]
    high, low = recent["high"].to_numpy(), recent["low"].to_numpy()
    cases = {
        f"window_features, {len(recent)} candles": (
            lambda: window_features(recent, config, rows),
            args.calls,
        ),
        f"window_features, {len(history)} candles": (
            lambda: window_features(history, config, rows),
            args.calls,
        ),
        f"  of which SAR loop, {len(recent)} rows": (
            lambda: parabolic_sar_values(high, low),
            args.calls,
        ),
        f"build_features, {len(recent)} candles": (
            lambda: build_features(recent, config),
            max(1, args.calls // 10),
        ),
    }
    print(describe_machine())
    print(f"{'case':<42} {'calls':>6} {'p50 us':>9} {'p90 us':>9} {'p99 us':>9}")
    for name, (func, calls) in cases.items():
        times = per_call(func, calls, max(1, calls // 10)) * 1e6  # microseconds
        p50, p90, p99 = np.percentile(times, [50, 90, 99])
        print(f"{name:<42} {calls:>6} {p50:>9.0f} {p90:>9.0f} {p99:>9.0f}")


if __name__ == "__main__":
    main()
