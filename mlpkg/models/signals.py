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
