"""Serving runtimes per family: the native estimator vs what the server runs, one window.

For every family at its default size (``RunConfig()`` sections: window 60 for the neural
families, 24 for LightGBM; 54 features), fitted briefly on the last ``--rows`` shipped BTC
candles' features: the time of one window through the native estimator (``predict_proba`` on
the window's rows: Keras ``predict_on_batch``, the LightGBM booster, scikit-learn's scaler +
NumPy) and through the serving runtime (``mlpkg.serving.runtime``: ONNX Runtime, the booster,
NumPy), and the largest |P(up)| difference over every window of the data. For LightGBM it also
measures ONNX Runtime on the booster converted by onnxmltools (when installed:
``pip install onnxmltools==1.16.0``), the alternative that was measured and rejected.

    .venv/bin/python bench/serving/bench_runtimes.py            # ~2 min
    .venv/bin/python bench/serving/bench_runtimes.py --families lstm lightgbm --calls 500
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.config import FAMILIES, RunConfig
from mlpkg.features.build import build_features
from mlpkg.features.labels import make_labels
from mlpkg.models.families import make_estimator
from mlpkg.serving.runtime import load_member
from mlpkg.tracking.export import export_bundle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger("bench_runtimes")


def real_rows(rows: int) -> tuple[pd.DataFrame, pd.Series]:
    path = resources.files("mlpkg.datasets") / "BTCUSD_1h.csv.gz"
    with resources.as_file(path) as file:
        candles = pd.read_csv(file, index_col="open_time")
    candles.index = pd.to_datetime(candles.index, utc=True)
    candles = candles.astype("float64").iloc[-rows:]
    config = RunConfig()
    X = build_features(candles, config.features).dropna()
    y = make_labels(candles["close"], [config.horizon])[f"direction_{config.horizon}"]
    return X, y.loc[X.index]


def per_call_ms(call: Callable[[], Any], calls: int) -> float:
    call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def lightgbm_onnx(estimator: Any, X: pd.DataFrame, calls: int) -> tuple[float, float] | None:
    """(p50 ms of one row, max |diff| vs the booster) through onnxmltools + ONNX Runtime."""
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        log.warning("onnxmltools not installed: LightGBM through ONNX not measured")
        return None
    import onnxruntime as ort

    from mlpkg.models.lightgbm import window_summaries

    table = window_summaries(X.to_numpy(), estimator.window)[estimator.window - 1 :]
    graph = onnxmltools.convert_lightgbm(
        estimator.booster_,
        initial_types=[("input", FloatTensorType([None, table.shape[1]]))],
        zipmap=False,
        target_opset=15,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(graph.SerializeToString(), options)
    ours = session.run(["probabilities"], {"input": table.astype(np.float32)})[0][:, 1]
    diff = float(np.max(np.abs(ours - estimator.booster_.predict(table))))
    row = table[-1:].astype(np.float32)
    return per_call_ms(lambda: session.run(["probabilities"], {"input": row}), calls), diff


def measure(
    family: str, X: pd.DataFrame, y: pd.Series, calls: int, **params: Any
) -> dict[str, Any]:
    config = RunConfig()
    estimator = make_estimator(family, config)
    if "epochs" in estimator.get_params():
        params.setdefault("epochs", 1)
    estimator.set_params(**params)
    started = time.perf_counter()
    estimator.fit(X, y)
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        estimator.save(root / "members" / family)
        started = time.perf_counter()
        runtime = export_bundle({family: estimator}, root)[family]
        export_s = time.perf_counter() - started
        member = load_member(family, root / "members" / family, list(X.columns))
    rows = estimator.context_rows + 1
    window_frame, window = X.iloc[-rows:], X.to_numpy()[-rows:]
    native = estimator.predict_proba(X)[:, 1]
    ours = member.predict_up(X.to_numpy())
    scored = np.isfinite(native)
    result = {
        "family": family,
        "runtime": runtime,
        "fit_s": fit_s,
        "export_s": export_s,
        "windows": int(scored.sum()),
        "max_diff": float(np.max(np.abs(ours[scored] - native[scored]))),
        "native_ms": per_call_ms(lambda: estimator.predict_proba(window_frame), calls),
        "runtime_ms": per_call_ms(lambda: member.predict_up(window), calls),
    }
    if family == "lightgbm":
        result["onnx"] = lightgbm_onnx(estimator, X, calls)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--rows", type=int, default=4000, help="shipped BTC candles used")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per measurement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    X, y = real_rows(args.rows)
    print(f"{len(X)} feature rows x {X.shape[1]} features; p50 of {args.calls} calls\n")
    print(
        "| family | runtime | native ms / window | runtime ms / window | speed-up "
        "| max abs diff | windows compared | export s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    # LightGBM twice: as early stopping leaves it, and refit on every row for 500 rounds (the
    # float32 thresholds of the ONNX tree ensemble diverge from the booster as trees add up).
    cases = [(f, f, {}) for f in args.families]
    if "lightgbm" in args.families:
        refit = {"validation_fraction": 0.0, "n_estimators": 500}
        cases.insert(
            cases.index(("lightgbm", "lightgbm", {})) + 1,
            ("lightgbm, 500 rounds", "lightgbm", refit),
        )
    for label, family, params in cases:
        r = measure(family, X, y, args.calls, **params)
        print(
            f"| {label} | {r['runtime']} | {r['native_ms']:.3f} | {r['runtime_ms']:.3f} | "
            f"{r['native_ms'] / r['runtime_ms']:.0f}x | {r['max_diff']:.1e} | {r['windows']} | "
            f"{r['export_s']:.1f} |"
        )
        if r.get("onnx"):
            onnx_ms, onnx_diff = r["onnx"]
            print(
                f"| {label} (rejected) | onnxruntime via onnxmltools | {r['native_ms']:.3f} | "
                f"{onnx_ms:.3f} | {r['native_ms'] / onnx_ms:.0f}x | {onnx_diff:.1e} | "
                f"{r['windows']} | |"
            )


if __name__ == "__main__":
    main()
