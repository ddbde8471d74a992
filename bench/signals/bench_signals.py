"""Benchmark: the signal policy vs buy-and-hold vs always-flat on each shipped pair's holdout.

Trains each pair at the default config (``mlpkg train`` defaults: lightgbm, logistic, stacked)
into a throw-away MLflow store; the policy's thresholds are chosen on the development folds,
and the selected candidate's holdout predictions are traded after the run's fees (10 bp per
unit of position change by default). Prints one markdown row per pair: the thresholds, the
policy's net return, Sharpe and maximum drawdown beside buy-and-hold's and flat's, and the
95 % interval of the per-candle difference with buy-and-hold.

Usage: ``nice -n 10 python bench/signals/bench_signals.py [--pairs BTC,ETH] [--param k=v ...]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import describe_machine

from mlpkg.config import RunConfig, Settings
from mlpkg.models.signals import SignalPolicy
from mlpkg.pipelines.signals import backtest_holdout
from mlpkg.pipelines.train import train_pair

PAIRS = ("BTC", "ETH", "LTC", "XRP", "EOS")
HEADER = (
    "| pair | selected | promoted | BUY/SELL > | STRONG > | policy net | policy Sharpe | "
    "policy max DD | signals (not HOLD) | exposure | policy per candle vs flat (95 % interval) | "
    "buy&hold net | buy&hold Sharpe | buy&hold max DD | "
    "policy - buy&hold per candle (95 % interval) | p | wall |"
)


def row(pair: str, params: dict[str, str]) -> str:
    """Train one pair in a throw-away store; its markdown row."""
    config = RunConfig.from_flat(pair=pair, **params)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_pair(config, Settings(home=Path(tmp), pairs=[pair]))
    wall = time.perf_counter() - started
    policy = result.bundle.extra["signal_policy"]
    holdout = result.holdout.extra["predictions"]
    backtest = backtest_holdout(
        holdout,
        result.bundle.candidate,
        SignalPolicy.from_dict(policy),
        result.development.dataset,
        config,
    )
    print(result.signals, flush=True)
    m, v, z = backtest.metrics, backtest.versus_buy_hold, backtest.versus_flat
    return (
        f"| {pair} | {result.bundle.candidate} | {result.decision.promote} | "
        f"{policy['normal']:.3f} | {policy['strong']:.3f} | "
        f"{m.loc['policy', 'total_return']:+.2%} | {m.loc['policy', 'sharpe']:.2f} | "
        f"{m.loc['policy', 'max_drawdown']:.1%} | {backtest.signal_share:.1%} | "
        f"{m.loc['policy', 'exposure']:.2f} | "
        f"{z.mean_diff * 1e4:+.2f} bp ({z.low * 1e4:+.2f} .. {z.high * 1e4:+.2f}) | "
        f"{m.loc['buy_hold', 'total_return']:+.2%} | {m.loc['buy_hold', 'sharpe']:.2f} | "
        f"{m.loc['buy_hold', 'max_drawdown']:.1%} | "
        f"{v.mean_diff * 1e4:+.2f} bp ({v.low * 1e4:+.2f} .. {v.high * 1e4:+.2f}) | "
        f"{v.p_value:.2f} | {wall:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--param", action="append", default=[], help="run parameter KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = dict(item.split("=", 1) for item in args.param)
    rows = []
    for pair in (p for p in args.pairs.split(",") if p):
        rows.append(row(pair, params))
        print(rows[-1], describe_machine(), sep="\n", flush=True)
    print("\n" + HEADER)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|")
    print("\n".join(rows))
    print(describe_machine())


if __name__ == "__main__":
    main()
