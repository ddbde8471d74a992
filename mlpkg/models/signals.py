"""Turn P(up) into the seed service's direction, confidence and trade signal (docs/compat.md §2).

``confidence`` is a distance from 0.5 (``|p - 0.5| * 2``), not a calibrated probability: it
says how far the model leans, and only means something if the model is calibrated (see the
reliability plot and the confidence buckets of the evaluation).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlpkg.errors import ConfigError, MlpkgError

Direction = Literal["up", "down"]
Signal = Literal["STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL"]
PolicyMode = Literal["long_flat", "long_short"]

FALLBACK_STRONG = 0.7
"""The seed service's STRONG threshold: the documented fallback of a version without a policy."""
FALLBACK_NORMAL = 0.55
"""The seed service's BUY/SELL threshold: the fallback of a version without a policy."""
POLICY_META = "signal_policy"
"""The ``meta.json`` key of a version's policy (written at registration, read by the server)."""
NORMAL_SIZE = 0.5
"""The position a BUY/SELL signal stands for (a STRONG signal stands for 1.0)."""


@dataclass(frozen=True)
class DirectionPrediction:
    """A described prediction: P(up), its direction, confidence and trade signal."""

    probability: float
    direction: Direction
    confidence: float
    signal: Signal

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (for JSON responses)."""
        return asdict(self)


def describe_prediction(
    p_up: float, *, strong: float = 0.7, normal: float = 0.55
) -> DirectionPrediction:
    """Describe P(up) the way the seed service did (v2 ``getTradeSignal``).

    ``direction`` is ``up`` if ``p_up > 0.5`` (0.5 is ``down``); ``confidence = |p - 0.5| * 2``;
    confidence above ``strong`` gives STRONG_BUY/STRONG_SELL, above ``normal`` BUY/SELL, else HOLD.

    Args:
        p_up: Probability that the price goes up, in [0, 1].
        strong: Confidence threshold of the STRONG signals.
        normal: Confidence threshold of BUY/SELL (must not exceed ``strong``).

    Raises:
        MlpkgError: if ``p_up`` is NaN or outside [0, 1].
        ConfigError: if the thresholds are not ``0 <= normal <= strong <= 1``.
    """
    if not 0.0 <= normal <= strong <= 1.0:
        raise ConfigError(
            f"Signal thresholds must satisfy 0 <= normal <= strong <= 1; got normal={normal}, "
            f"strong={strong}."
        )
    p = float(p_up)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise MlpkgError(f"P(up) must be a probability in [0, 1], got {p_up!r}.")
    up = p > 0.5
    confidence = abs(p - 0.5) * 2.0
    signal: Signal
    if confidence > strong:
        signal = "STRONG_BUY" if up else "STRONG_SELL"
    elif confidence > normal:
        signal = "BUY" if up else "SELL"
    else:
        signal = "HOLD"
    return DirectionPrediction(
        probability=p, direction="up" if up else "down", confidence=confidence, signal=signal
    )


def withhold_signal(prediction: DirectionPrediction, *, promoted: bool) -> DirectionPrediction:
    """No trade signal from a model that did not pass the promotion rule.

    A pair without a champion may still be served by its candidate (so clients get a
    probability), but the candidate failed the rule: its ``signal`` becomes ``HOLD`` while the
    probability, direction and confidence are kept.
    """
    if promoted or prediction.signal == "HOLD":
        return prediction
    return DirectionPrediction(
        prediction.probability, prediction.direction, prediction.confidence, "HOLD"
    )


@dataclass(frozen=True)
class SignalPolicy:
    """A version's signal thresholds, chosen on its development folds (never on the holdout).

    Attributes:
        normal: Confidence above which the signal is BUY/SELL.
        strong: Confidence above which it is STRONG_BUY/STRONG_SELL (``>= normal``).
        mode: ``long_flat`` (SELL means: be flat) or ``long_short`` (SELL means: be short).
        objective: The development objective the thresholds reached (mean net log return per
            candle minus the turnover penalty); NaN for a policy set by hand.
        note: How it was chosen (or why it is flat).
    """

    normal: float
    strong: float
    mode: PolicyMode = "long_flat"
    objective: float = math.nan
    note: str = ""

    def __post_init__(self) -> None:
        """Check the thresholds and the mode."""
        if not 0.0 <= self.normal <= self.strong <= 1.0:
            raise ConfigError(
                f"Signal thresholds must satisfy 0 <= normal <= strong <= 1; got "
                f"normal={self.normal}, strong={self.strong}."
            )
        if self.mode not in ("long_flat", "long_short"):
            raise ConfigError(f"Unknown policy mode {self.mode!r}; use long_flat or long_short.")

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (``meta.json``, MLflow, JSON responses)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalPolicy:
        """Rebuild a policy from :meth:`as_dict` output.

        Raises:
            ConfigError: if a field is missing or invalid.
        """
        try:
            return cls(
                normal=float(data["normal"]),
                strong=float(data["strong"]),
                mode=data.get("mode", "long_flat"),
                objective=float(data.get("objective", math.nan)),
                note=str(data.get("note", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"Invalid signal policy {data!r} ({exc}); retrain.") from exc

    def position(self, signal: Signal) -> float:
        """The position a signal stands for under this policy (+ long, - short, 0 flat)."""
        size = {"STRONG_BUY": 1.0, "BUY": NORMAL_SIZE, "HOLD": 0.0}.get(signal)
        if size is not None:
            return size
        short = 1.0 if signal == "STRONG_SELL" else NORMAL_SIZE
        return -short if self.mode == "long_short" else 0.0


def signal_thresholds(
    policy: SignalPolicy | None, *, strong: float, normal: float, overridden: bool
) -> tuple[float, float]:
    """The ``(strong, normal)`` thresholds a served version answers with.

    ``MLPKG_SIGNAL_STRONG``/``MLPKG_SIGNAL_NORMAL`` (``overridden``) win; otherwise the version's
    own policy; a version without one falls back to the seed thresholds (0.7 and 0.55).

    Args:
        policy: The version's policy (``None`` for a version registered without one).
        strong: The configured STRONG threshold (``Settings.signal_strong``).
        normal: The configured BUY/SELL threshold (``Settings.signal_normal``).
        overridden: Whether either threshold was set explicitly in the environment.
    """
    if overridden or policy is None:
        return strong, normal
    return policy.strong, policy.normal
