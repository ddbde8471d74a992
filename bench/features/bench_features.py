"""Time build_features and the equivalent `ta` indicator calls on 1k, 10k and 100k candles.

Run: ``.venv/bin/python bench/features/bench_features.py [--sizes 1000 10000 100000]``.
The shipped BTC candles are tiled onto a continuous hourly index to reach each size. Prints the
machine, a table of best-of-N wall times, the time per 1k rows (flat = linear growth) and the
speed-up of our indicators over ta's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd
import ta
from _machine import describe_machine

from mlpkg.config import FeatureConfig
from mlpkg.features import indicators as ind
from mlpkg.features.build import build_features


def shipped_btc() -> pd.DataFrame:
    path = resources.files("mlpkg.datasets") / "BTCUSD_1h.csv.gz"
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, index_col="open_time")
    return frame.astype("float64").reset_index(drop=True)


def tiled(base: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``rows`` candles: the base repeated, on a new continuous hourly UTC index."""
    reps = -(-rows // len(base))
    frame = pd.concat([base] * reps, ignore_index=True).iloc[:rows]
    frame.index = pd.date_range("2010-01-01", periods=rows, freq="h", tz="UTC", name="open_time")
    return frame


def ours(candles: pd.DataFrame) -> None:
    """Our NumPy kernels for the same indicator set that `ta_calls` computes, every row."""
    high, low, close, volume = (
        candles[c].to_numpy(dtype="float64") for c in ("high", "low", "close", "volume")
    )
    ind.rsi(close)
    ind.macd(close)
    ind.bollinger(close)
    ind.sma(close, 10), ind.sma(close, 21)
    ind.volume_indicators(close, volume)
    ind.stochastic(high, low, close)
    ind.williams_r(high, low, close)
    ind.ichimoku(high, low)
    ind.adx(high, low, close)
    ind.cci(high, low, close)
    ind.parabolic_sar_values(high, low)


def ta_calls(candles: pd.DataFrame) -> None:
    """The `ta` library's versions (RangeIndex: its PSAR indexes by label in one branch)."""
    frame = candles.reset_index(drop=True)
    high, low, close, volume = (frame[c] for c in ("high", "low", "close", "volume"))
    ta.momentum.RSIIndicator(close).rsi()
    macd = ta.trend.MACD(close)
    macd.macd(), macd.macd_signal(), macd.macd_diff()
    bands = ta.volatility.BollingerBands(close)
    bands.bollinger_pband(), bands.bollinger_wband()
    (
        ta.trend.SMAIndicator(close, 10).sma_indicator(),
        ta.trend.SMAIndicator(close, 21).sma_indicator(),
    )
    ta.volume.OnBalanceVolumeIndicator(close, volume).on_balance_volume()
    ta.volume.VolumePriceTrendIndicator(close, volume).volume_price_trend()
    stoch = ta.momentum.StochasticOscillator(high, low, close)
    stoch.stoch(), stoch.stoch_signal()
    ta.momentum.WilliamsRIndicator(high, low, close).williams_r()
    cloud = ta.trend.IchimokuIndicator(high, low)
    cloud.ichimoku_conversion_line(), cloud.ichimoku_base_line()
    cloud.ichimoku_a(), cloud.ichimoku_b()
    adx = ta.trend.ADXIndicator(high, low, close)
    adx.adx(), adx.adx_pos(), adx.adx_neg()
    ta.trend.CCIIndicator(high, low, close).cci()
    ta.trend.PSARIndicator(high, low, close).psar()


def best_of(func: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ta-repeats", type=int, default=3)
    args = parser.parse_args()
    base, config = shipped_btc(), FeatureConfig()
    print(describe_machine())
    print(
        f"{'rows':>8} {'build_features s':>17} {'ours (11 ind.) s':>17} {'ta (11 ind.) s':>15}"
        f" {'build ms/1k rows':>17} {'ta / ours':>10}"
    )
    for rows in args.sizes:
        candles = tiled(base, rows)
        build = best_of(lambda c=candles: build_features(c, config), args.repeats)
        mine = best_of(lambda c=candles: ours(c), args.repeats)
        theirs = best_of(lambda c=candles: ta_calls(c), 1 if rows > 20_000 else args.ta_repeats)
        print(
            f"{rows:>8} {build:>17.4f} {mine:>17.4f} {theirs:>15.3f}"
            f" {1000 * build / rows * 1000:>17.3f} {theirs / mine:>10.0f}x"
        )


if __name__ == "__main__":
    main()
