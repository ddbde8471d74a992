"""Drift, out-of-distribution inputs and live accuracy bounds (pure: numbers in, numbers out).

The rules the service applies, with their thresholds (documented in ``docs/api.md``):

- **Reference distribution.** At training time each feature's training rows are cut into
  ``REFERENCE_BINS`` (10) quantile bins (deciles; repeated edges of discrete features are
  merged) and the share of rows in each bin is kept, with the feature's min and max
  (:func:`reference_distribution`). It travels in the model bundle's ``meta.json``.
- **PSI** (population stability index) of a feature over the last N served candles:
  ``sum((a - e) * ln(a / e))`` over the bins, ``e`` the training shares, ``a`` the live shares
  (:func:`psi`). The live shares are smoothed towards the training shares with a prior worth
  ``PSI_PSEUDOCOUNT`` (0.5) candles per bin, so a bin left empty by a short window gives a
  finite value. The usual reading (Siddiqi, *Credit Risk Scorecards*, 2006): below 0.1 no
  shift, 0.1-0.2 moderate, **above 0.2 significant**: the default threshold.
- **Noise floor.** That reading assumes independent samples. Candle features are not: a
  50-candle volatility barely moves within a week, so any week covers a few of its deciles and
  scores a PSI far above 0.2 even inside the training period (on BTC, 168-candle windows taken
  from the training rows themselves flag a median of 36 of 54 features at 0.2). So the
  reference also keeps, per feature and window length (``NOISE_WINDOWS``), the **largest** PSI
  that windows of that length taken from the training rows reach (:func:`window_psi_max`). A
  feature is flagged when its live PSI exceeds ``max(threshold, its noise floor)``
  (:func:`flag_drift`, :func:`noise_floor`): a shift larger than anything the training period
  itself showed over windows that long.
- **Out of distribution.** A feature value outside ``[min, max]`` of the training rows
  (:func:`out_of_range`). With n training rows a value from the same distribution lands
  outside that range with probability about ``2 / (n + 1)`` per feature.
- **Accuracy alert.** Over the last K settled predictions, live accuracy below the version's
  walk-forward lower bound: the 2.5 % quantile of Binomial(K, walk-forward accuracy) / K
  (:func:`accuracy_floor`), i.e. what a model as good as its walk-forward folds would score
  less than 2.5 % of the time. Outcomes of overlapping horizons are correlated, so the real
  false-alarm rate is higher than 2.5 %.
- **Live accuracy interval.** Wilson's score interval (:func:`wilson_interval`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError

REFERENCE_BINS = 10
"""Quantile bins per feature in the reference distribution (deciles)."""
NOISE_WINDOWS: tuple[int, ...] = (24, 72, 168, 336, 720, 1440)
"""Window lengths (candles) whose in-training PSI maximum the reference keeps."""
NOISE_SAMPLES = 400
"""About how many windows of each length are taken from the training rows (evenly spaced)."""
REFERENCE_VERSION = 1
"""Format version of the reference distribution stored with a model."""
PSI_THRESHOLD = 0.2
"""PSI above which a feature is flagged (a significant shift)."""
PSI_PSEUDOCOUNT = 0.5
"""Pseudo-candles per bin added to the live counts, spread like the training shares."""
ALERT_QUANTILE = 0.025
"""Accuracy alert: live accuracy below this binomial quantile of the walk-forward accuracy."""


@dataclass(frozen=True)
class FeatureReference:
    """One feature's training distribution.

    Attributes:
        edges: Inner bin edges (increasing, unique): bin ``i`` holds ``edges[i-1] <= x <
            edges[i]``; the first bin everything below ``edges[0]``, the last everything at or
            above ``edges[-1]``.
        expected: Share of training rows in each bin (``len(edges) + 1`` values, sum 1).
        low: Smallest training value.
        high: Largest training value.
        noise: ``(window length, largest PSI of such windows within the training rows)``,
            by increasing length (empty for references stored without it).
    """

    edges: tuple[float, ...]
    expected: tuple[float, ...]
    low: float
    high: float
    noise: tuple[tuple[int, float], ...] = ()


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    indices = np.searchsorted(edges, values, side="right")
    return np.bincount(indices, minlength=len(edges) + 1).astype(np.float64)


def _smoothed_psi(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """PSI of each row of bin ``counts`` against ``expected`` shares (see :func:`psi`)."""
    expected = np.maximum(expected, 1e-6)
    expected = expected / expected.sum()
    prior = PSI_PSEUDOCOUNT * len(expected)  # pseudo-candles spread like the training shares
    actual = (counts + prior * expected) / (counts.sum(axis=-1, keepdims=True) + prior)
    return np.asarray(np.sum((actual - expected) * np.log(actual / expected), axis=-1))


def window_psi_max(
    values: np.ndarray, ref: FeatureReference, windows: tuple[int, ...] = NOISE_WINDOWS
) -> tuple[tuple[int, float], ...]:
    """The largest PSI of consecutive-row windows of each length within ``values`` (training).

    About ``NOISE_SAMPLES`` evenly spaced windows per length; lengths longer than half the
    rows are skipped.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    edges = np.asarray(ref.edges, dtype=np.float64)
    bins = np.searchsorted(edges, finite, side="right")
    onehot = np.zeros((len(finite) + 1, len(edges) + 1))
    onehot[np.arange(1, len(finite) + 1), bins] = 1.0
    cumulative = np.cumsum(onehot, axis=0)
    expected = np.asarray(ref.expected, dtype=np.float64)
    floors = []
    for window in windows:
        if window > len(finite) // 2:
            break
        ends = np.unique(np.linspace(window, len(finite), NOISE_SAMPLES).astype(int))
        counts = cumulative[ends] - cumulative[ends - window]
        floors.append((window, float(_smoothed_psi(counts, expected).max())))
    return tuple(floors)


def feature_reference(values: np.ndarray, bins: int = REFERENCE_BINS) -> FeatureReference:
    """Quantile bins, shares, range and noise floors of one feature's training values.

    NaN values are ignored.

    Raises:
        MlpkgError: when there is no finite value or ``bins`` < 2.
    """
    if bins < 2:
        raise MlpkgError(f"A reference distribution needs at least 2 bins, got {bins}.")
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise MlpkgError("A feature has no finite training value: cannot build its reference.")
    inner = np.quantile(finite, np.arange(1, bins) / bins, method="lower")  # data values
    edges = np.unique(inner)
    counts = _bin_counts(finite, edges)
    expected = counts / counts.sum()
    ref = FeatureReference(
        tuple(float(e) for e in edges),
        tuple(float(s) for s in expected),
        float(finite.min()),
        float(finite.max()),
    )
    return replace(ref, noise=window_psi_max(finite, ref))


def reference_distribution(features: pd.DataFrame, bins: int = REFERENCE_BINS) -> dict[str, Any]:
    """The reference distribution of every feature column, as JSON-ready data.

    Args:
        features: The training rows (one column per feature).
        bins: Quantile bins per feature.

    Returns:
        ``{"version", "bins", "rows", "features": {name: {"edges", "expected", "min",
        "max", "noise": {window length: largest in-training PSI}}}}``.
    """
    described: dict[str, Any] = {}
    for name in features.columns:
        ref = feature_reference(features[name].to_numpy(dtype=np.float64), bins)
        described[str(name)] = {
            "edges": list(ref.edges),
            "expected": list(ref.expected),
            "min": ref.low,
            "max": ref.high,
            "noise": {str(window): value for window, value in ref.noise},
        }
    return {
        "version": REFERENCE_VERSION,
        "bins": bins,
        "rows": len(features),
        "features": described,
    }


def parse_reference(data: Mapping[str, Any]) -> dict[str, FeatureReference]:
    """Read a stored reference distribution back (``reference_distribution``'s output).

    Raises:
        MlpkgError: when the data is of another version or malformed.
    """
    if data.get("version") != REFERENCE_VERSION:
        raise MlpkgError(
            f"Drift reference of version {data.get('version')!r}; this mlpkg reads version "
            f"{REFERENCE_VERSION}. Retrain the pair to store a new one."
        )
    try:
        return {
            str(name): FeatureReference(
                tuple(float(e) for e in spec["edges"]),
                tuple(float(s) for s in spec["expected"]),
                float(spec["min"]),
                float(spec["max"]),
                tuple(sorted((int(w), float(v)) for w, v in spec.get("noise", {}).items())),
            )
            for name, spec in data["features"].items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise MlpkgError(f"The stored drift reference is malformed ({exc}); retrain.") from exc


def psi(reference: FeatureReference, values: np.ndarray) -> float:
    """Population stability index of live ``values`` against a feature's reference.

    Returns:
        PSI (>= 0), or NaN when ``values`` has no finite number.
    """
    live = np.asarray(values, dtype=np.float64)
    live = live[np.isfinite(live)]
    if live.size == 0:
        return math.nan
    edges = np.asarray(reference.edges, dtype=np.float64)
    counts = _bin_counts(live, edges)
    return float(_smoothed_psi(counts, np.asarray(reference.expected, dtype=np.float64)))


def noise_floor(reference: FeatureReference, window: int) -> float:
    """The largest in-training PSI of windows as long as ``window`` (0 when unknown).

    The stored length closest to ``window`` from below is used (shorter windows are noisier,
    so this errs towards flagging); below the shortest stored length, the shortest.
    """
    if not reference.noise:
        return 0.0
    below = [value for length, value in reference.noise if length <= window]
    return below[-1] if below else reference.noise[0][1]


def psi_by_feature(
    reference: Mapping[str, FeatureReference], live: pd.DataFrame
) -> dict[str, float]:
    """PSI of every referenced feature present in ``live`` (columns by name)."""
    return {
        name: psi(ref, live[name].to_numpy(dtype=np.float64))
        for name, ref in reference.items()
        if name in live.columns
    }


def flag_drift(
    scores: Mapping[str, float],
    threshold: float = PSI_THRESHOLD,
    floors: Mapping[str, float] | None = None,
) -> list[str]:
    """Features whose PSI is above ``max(threshold, their noise floor)``, largest first.

    Args:
        scores: Feature -> live PSI.
        threshold: The PSI threshold (0.2).
        floors: Feature -> noise floor (``noise_floor``); none: the threshold alone.
    """
    floors = floors or {}
    over = [
        (value, name)
        for name, value in scores.items()
        if value > max(threshold, floors.get(name, 0.0))
    ]
    return [name for _, name in sorted(over, reverse=True)]


def out_of_range(reference: Mapping[str, FeatureReference], row: Mapping[str, float]) -> list[str]:
    """Features of one input row outside ``[min, max]`` of the training rows (or not finite)."""
    outside = []
    for name, ref in reference.items():
        value = row.get(name)
        if value is None:
            continue
        if not math.isfinite(value) or value < ref.low or value > ref.high:
            outside.append(name)
    return outside


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion (``None`` when ``n`` is 0).

    SciPy's ``binomtest(successes, n).proportion_ci(method="wilson")`` (no continuity
    correction).

    Raises:
        MlpkgError: when ``successes`` is not within ``[0, n]``.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise MlpkgError(f"successes must lie in [0, {n}], got {successes}.")
    from scipy import stats  # here: SciPy stays out of the prediction server's import

    interval = stats.binomtest(successes, n).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return max(0.0, float(interval.low)), min(1.0, float(interval.high))


def accuracy_floor(walk_forward_accuracy: float, k: int, quantile: float = ALERT_QUANTILE) -> float:
    """The lowest accuracy over ``k`` predictions still consistent with the walk-forward one.

    The ``quantile`` (2.5 %) quantile of Binomial(k, walk_forward_accuracy), divided by ``k``.

    Raises:
        MlpkgError: for ``k`` < 1 or an accuracy outside [0, 1].
    """
    if k < 1 or not 0.0 <= walk_forward_accuracy <= 1.0:
        raise MlpkgError(
            f"accuracy_floor needs k >= 1 and an accuracy in [0, 1], got {k}, "
            f"{walk_forward_accuracy}."
        )
    from scipy import stats

    return float(stats.binom.ppf(quantile, k, walk_forward_accuracy)) / k
