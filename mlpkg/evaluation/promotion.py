"""The promotion rule: when a candidate may become champion (one function, pure).

A candidate becomes champion only if, **on the holdout** (rows no choice has seen):

1. ``beats_naive`` — its mean log loss beats the best naive baseline (majority, always-up,
   persistence; the one with the lowest log loss on the **development** folds, so the holdout
   chooses nothing) by at least ``MIN_GAIN_NATS`` nats, and the one-sided Diebold-Mariano test
   (rectangular kernel, HLN correction, t(n-1)) of "the candidate has the lower expected loss"
   gives p < alpha_k, where k is this candidate's use of the holdout (``spent_alpha``: repeated
   use of one holdout is paid for, so the family-wise false promotion over every candidate
   ever scored on it stays below ``SIGNIFICANCE_LEVEL``);
2. ``wins_blocks`` — its log loss is below that baseline's in a strict majority of the
   ``holdout_blocks`` time-ordered holdout slices (a gain made in one lucky week fails);
3. ``not_worse_than_champion`` — its log loss is not above the current champion's, re-scored
   on the same holdout rows after refitting the champion's procedure (family, parameters,
   training budget, weights) on the candidate's development period, so the champion is never
   judged on rows it was trained on. When the champion cannot be refit that way (its
   procedure is unknown, or it predicts another horizon), there is no fair comparison: the
   candidate is not promoted automatically, and the reason says so.

Logistic regression is reported beside every candidate but beating it is **not** required: it
is a model with skill, not a naive reference, and it is itself a family that the development
folds can select (``models`` includes it by default). Requiring every candidate to beat it would
make "logistic wins development, promote logistic" the only path, which selection already
covers. The margin: hourly direction models here gain 0.001-0.007 nats over the prior; a
2-milli-nat margin keeps a statistically significant but negligible gain from replacing a
champion. ``mlpkg promote`` remains for manual promotion and is recorded as manual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.significance import DieboldMarianoResult, diebold_mariano

SIGNIFICANCE_LEVEL = 0.05
"""Family-wise level alpha: the false-promotion rate over every candidate scored on one holdout."""
MIN_GAIN_NATS = 0.002
"""Smallest mean log-loss gain (nats per prediction) over the best naive baseline."""


@dataclass(frozen=True)
class Condition:
    """One checked condition of the rule, with the numbers behind it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ChampionEvidence:
    """What is known about the current champion for the third condition.

    Attributes:
        version: The champion's registered version (None: there is no champion).
        log_loss: Its mean log loss on the holdout rows after the refit (None when it could
            not be refit).
        candidate_log_loss: The candidate's mean log loss on the same rows (None: all rows).
        note: How it was re-scored, or why it could not be.
    """

    version: str | None
    log_loss: float | None = None
    candidate_log_loss: float | None = None
    note: str = ""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate becomes champion, each condition checked, and one-line reason."""

    promote: bool
    conditions: tuple[Condition, ...]
    reason: str
    manual: bool = False

    def lines(self) -> list[str]:
        """One line per condition, for reports and logs."""
        return [f"[{'x' if c.passed else ' '}] {c.name}: {c.detail}" for c in self.conditions]


def spent_alpha(use: int, alpha: float = SIGNIFICANCE_LEVEL) -> float:
    """The DM level of the k-th candidate scored on one holdout: alpha_k = alpha*6/(pi^2 k^2).

    The alpha_k sum to alpha over k = 1, 2, ..., so by the union bound the chance that any of the
    candidates ever scored on a holdout is promoted when none beats the naive reference stays
    at most alpha, however many are tried (bench/selection/bench_alpha_spending.py measures it).

    Raises:
        MlpkgError: if ``use`` is below 1.
    """
    if use < 1:
        raise MlpkgError(f"Holdout use numbers start at 1, got {use}.")
    return alpha * 6.0 / (math.pi**2 * use**2)


def _mean_loss(rows: pd.DataFrame) -> float:
    return float(log_losses(rows["y_true"], rows["proba_up"]).mean())


def _model(holdout: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = holdout[holdout["model"] == name].sort_values("open_time")
    if rows.empty:
        raise MlpkgError(f"No holdout predictions of {name!r}.")
    return rows


def best_naive(predictions: pd.DataFrame, naive: Sequence[str]) -> str:
    """The naive baseline with the lowest mean log loss in ``predictions``.

    Call it on development predictions: the reference of the promotion rule is chosen there.
    """
    return min(naive, key=lambda name: _mean_loss(_model(predictions, name)))


def holdout_dm(holdout: pd.DataFrame, model: str, other: str, horizon: int) -> DieboldMarianoResult:
    """One-sided DM test of "``model`` has the lower expected log loss than ``other``"."""
    a, b = _model(holdout, model), _model(holdout, other)
    if not np.array_equal(a["open_time"].to_numpy(), b["open_time"].to_numpy()):
        raise MlpkgError(f"{model!r} and {other!r} were scored on different holdout rows.")
    return diebold_mariano(
        log_losses(a["y_true"], a["proba_up"]),
        log_losses(b["y_true"], b["proba_up"]),
        horizon,
        alternative="less",
    )


def _beats_naive(gain: float, test: DieboldMarianoResult, baseline: str, use: int) -> Condition:
    level = spent_alpha(use)
    passed = test.p_value < level and gain >= MIN_GAIN_NATS
    detail = (
        f"gain {gain * 1000:+.2f} mnat over {baseline} (chosen on development; needs >= "
        f"{MIN_GAIN_NATS * 1000:.1f}), one-sided DM (HLN, t({test.n - 1}), {test.kernel} kernel) "
        f"p={test.p_value:.3g} (needs < alpha_{use} = {level:.3g}: use {use} of this holdout, "
        f"alpha={SIGNIFICANCE_LEVEL:g} spent as alpha*6/(pi^2 k^2))"
    )
    return Condition("beats_naive", passed, detail)


def _wins_blocks(holdout: pd.DataFrame, candidate: str, baseline: str) -> Condition:
    a, b = _model(holdout, candidate), _model(holdout, baseline)
    wins, blocks = 0, sorted(a["block"].unique())
    for block in blocks:
        wins += _mean_loss(a[a["block"] == block]) < _mean_loss(b[b["block"] == block])
    passed = wins > len(blocks) / 2
    detail = f"lower log loss than {baseline} in {wins} of {len(blocks)} holdout blocks"
    return Condition("wins_blocks", passed, detail + (" (needs a strict majority)"))


def _not_worse(candidate_loss: float, champion: ChampionEvidence | None) -> Condition:
    name = "not_worse_than_champion"
    if champion is None or champion.version is None:
        return Condition(name, True, "no champion yet")
    if champion.log_loss is None or not math.isfinite(champion.log_loss):
        return Condition(
            name, False, f"champion v{champion.version} cannot be re-scored: {champion.note}"
        )
    if champion.candidate_log_loss is not None:
        candidate_loss = champion.candidate_log_loss
    passed = candidate_loss <= champion.log_loss
    detail = (
        f"log loss {candidate_loss:.5f} vs champion v{champion.version} {champion.log_loss:.5f} "
        f"({champion.note})"
    )
    return Condition(name, passed, detail)


def decide_promotion(
    holdout: pd.DataFrame,
    candidate: str,
    *,
    baseline: str,
    horizon: int,
    champion: ChampionEvidence | None,
    use: int = 1,
) -> PromotionDecision:
    """Apply the promotion rule (module docstring) to holdout predictions.

    Args:
        holdout: Holdout predictions with ``model, open_time, y_true, proba_up, block`` for the
            candidate and the naive baseline, scored on the same rows.
        candidate: The candidate's name in ``holdout``.
        baseline: The naive reference, chosen on the development folds (``best_naive`` of the
            development predictions), never on the holdout.
        horizon: Label horizon h (DM lags ``0 .. h-1``).
        champion: The current champion re-scored on the same rows (None: no champion).
        use: k, this candidate's use of the holdout (1 + earlier scorings of overlapping rows).
    """
    candidate_loss = _mean_loss(_model(holdout, candidate))
    gain = _mean_loss(_model(holdout, baseline)) - candidate_loss
    conditions = (
        _beats_naive(gain, holdout_dm(holdout, candidate, baseline, horizon), baseline, use),
        _wins_blocks(holdout, candidate, baseline),
        _not_worse(candidate_loss, champion),
    )
    promote = all(c.passed for c in conditions)
    failed = [c.name for c in conditions if not c.passed]
    reason = (
        f"{candidate} passes every condition on the holdout"
        if promote
        else f"{candidate} is not promoted: fails {', '.join(failed)}"
    )
    return PromotionDecision(promote, conditions, reason)


def manual_decision(version: str, who: str = "mlpkg promote") -> PromotionDecision:
    """The record of a promotion made by hand (the rule was not applied)."""
    condition = Condition("manual", True, f"version {version} promoted by hand ({who})")
    return PromotionDecision(True, (condition,), f"manual promotion of version {version}", True)
