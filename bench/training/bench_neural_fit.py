"""CPU per fit of each neural family at the test suite's tiny size and at the default size.

Run: ``.venv/bin/python bench/training/bench_neural_fit.py [--calls 3]``.
Fits each family's estimator on the last 1,200 shipped BTC feature rows (direction in 5
candles) with the suite's tiny settings (``tests/support.py``: one epoch, 4 units) and with the
defaults at one epoch. At the tiny size most of a fit is TensorFlow tracing the train and test
steps, so the figure shows what a change to the tracing costs or saves. Also counts the variables
first created inside a traced step (each makes TensorFlow trace the step again; 0 expected).
Prints the machine, then CPU seconds (user + sys of this process and its threads) per fit, mean
over ``--calls`` fits after one warm-up fit; TensorFlow and OpenMP on one thread, as in the suite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import argparse
from typing import Any

import pandas as pd
from _machine import describe_machine
from _timing import cpu_seconds
from support import TINY_SECTIONS

from mlpkg.config import FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.labels import make_labels
from mlpkg.models.families import ESTIMATORS

NEURAL = ("lstm", "gru", "cnn", "transformer")
ONE_THREAD = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def _fit_counting(params: dict[str, Any], family: str, X: pd.DataFrame, y: pd.Series) -> int:
    """Fit once; return how many variables were first created inside a traced function."""
    import tensorflow as tf

    created = 0

    def creator(next_creator: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += int(tf.inside_function())
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        ESTIMATORS[family](**params).fit(X, y)
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    # TensorFlow reads these when it first loads, in the first fit (the imports above are lazy)
    assert "tensorflow" not in sys.modules
    os.environ.update({name: os.environ.get(name, "1") for name in ONE_THREAD})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config = FeatureConfig()
    candles = load_candles("BTC", "shipped")
    X = build_features(candles, config).iloc[warmup_rows(config) :].iloc[-1200:]
    y = make_labels(candles["close"], (5,))["direction_5"].reindex(X.index)
    print(describe_machine())
    sizes = {"tiny": TINY_SECTIONS, "default, 1 epoch": {f: {"epochs": 1} for f in NEURAL}}
    for size, sections in sizes.items():
        for family in NEURAL:
            params = sections[family]
            in_trace = _fit_counting(params, family, X, y)  # also the warm-up fit
            start = cpu_seconds()
            for _ in range(args.calls):
                ESTIMATORS[family](**params).fit(X, y)
            cpu = (cpu_seconds() - start) / args.calls
            print(
                f"{size:<17} {family:<12} cpu {cpu:6.2f} s per fit  "
                f"variables created in a trace: {in_trace}"
            )


if __name__ == "__main__":
    main()
