"""The promotion rule on synthetic holdouts: every condition can fail on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.promotion import (
    MIN_GAIN_NATS,
    SIGNIFICANCE_LEVEL,
    ChampionEvidence,
    decide_promotion,
    holdout_dm,
    manual_decision,
    spent_alpha,
)
from mlpkg.evaluation.splits import block_labels

ROWS = 4000


def _holdout(edge_by_block=(0.15, 0.15, 0.15, 0.15), seed: int = 0) -> pd.DataFrame:
    """Candidate leaning towards the truth by ``edge`` per block; naive baselines at 0.5ish."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=ROWS, freq="h", tz="UTC")
    y = rng.integers(0, 2, ROWS).astype(float)
    blocks = block_labels(ROWS, len(edge_by_block))
    edge = np.asarray(edge_by_block)[blocks]
    noise = rng.normal(0, 0.05, ROWS)
    probas = {
        "lstm": np.clip(0.5 + edge * (y - 0.5) * 2 * 0.5 + noise, 0.02, 0.98),
        "majority": np.full(ROWS, 0.5),
        "always_up": np.full(ROWS, 0.501),
        "persistence": np.clip(0.5 + rng.normal(0, 0.01, ROWS), 0.4, 0.6),
    }
    columns = {"open_time": times, "y_true": y, "future_return": 0.0, "block": blocks}
    frames = [pd.DataFrame({"model": name, "proba_up": p, **columns}) for name, p in probas.items()]
    return pd.concat(frames, ignore_index=True)


def _decide(holdout: pd.DataFrame, champion: ChampionEvidence | None = None, use: int = 1):
    return decide_promotion(
        holdout, "lstm", baseline="majority", horizon=5, champion=champion, use=use
    )


def _conditions(decision) -> dict[str, bool]:
    return {c.name: c.passed for c in decision.conditions}


def test_a_real_edge_in_every_block_is_promoted_without_a_champion():
    decision = _decide(_holdout())

    assert decision.promote
    assert _conditions(decision) == {
        "beats_naive": True,
        "wins_blocks": True,
        "not_worse_than_champion": True,
    }
    assert "no champion yet" in decision.lines()[2]
    assert "one-sided DM (HLN" in decision.lines()[0]


def test_no_edge_is_not_promoted_and_says_which_condition_failed():
    decision = _decide(_holdout((0.0, 0.0, 0.0, 0.0), seed=4))

    assert not decision.promote
    assert not _conditions(decision)["beats_naive"]
    assert "fails beats_naive" in decision.reason


def test_a_gain_that_is_significant_but_below_the_margin_is_not_enough():
    holdout = _holdout((0.0, 0.0, 0.0, 0.0), seed=1)
    lstm = holdout["model"] == "lstm"
    y = holdout.loc[lstm, "y_true"].to_numpy()
    # A tiny lean that is always right: overwhelmingly significant, yet worth < 1 mnat.
    holdout.loc[lstm, "proba_up"] = 0.5 + 0.0005 * (2 * y - 1)

    decision = _decide(holdout)

    gain_text = decision.conditions[0].detail
    assert not decision.promote and not _conditions(decision)["beats_naive"]
    assert f"needs >= {MIN_GAIN_NATS * 1000:.1f}" in gain_text
    assert "p=" in gain_text


def test_an_edge_in_one_lucky_block_fails_the_majority_of_blocks():
    decision = _decide(_holdout((0.6, 0.0, -0.02, -0.02), seed=2))

    conditions = _conditions(decision)
    assert conditions["beats_naive"]  # the lucky block carries the mean
    assert not conditions["wins_blocks"]
    assert not decision.promote


def test_a_better_champion_on_the_same_rows_blocks_promotion():
    better = ChampionEvidence("3", log_loss=0.50, note="refit on this development period")
    decision = _decide(_holdout(), champion=better)

    assert not decision.promote
    assert not _conditions(decision)["not_worse_than_champion"]
    assert "champion v3 0.50000" in decision.conditions[2].detail


def test_a_champion_that_cannot_be_rescored_blocks_automatic_promotion():
    unknown = ChampionEvidence("2", note="it predicts horizon 3, not 5")
    decision = _decide(_holdout(), champion=unknown)

    assert not decision.promote
    assert "cannot be re-scored: it predicts horizon 3" in decision.conditions[2].detail


def test_a_weaker_champion_lets_the_candidate_through_on_common_rows():
    weaker = ChampionEvidence("2", log_loss=0.70, candidate_log_loss=0.65, note="common rows")
    stronger = ChampionEvidence("2", log_loss=0.64, candidate_log_loss=0.65, note="common rows")
    assert not _decide(_holdout(), champion=stronger).promote
    assert _decide(_holdout(), champion=weaker).promote


def test_manual_promotion_is_recorded_as_manual():
    decision = manual_decision("7")
    assert decision.promote and decision.manual
    assert decision.conditions[0].name == "manual"
    assert "version 7" in decision.reason


@pytest.mark.parametrize("rows", [1, 5, 17])
def test_blocks_are_consecutive_and_cover_every_row(rows):
    labels = block_labels(rows, 4)
    assert len(labels) == rows
    assert (np.diff(labels) >= 0).all() and labels[0] == 0
    assert labels.max() == min(4, rows) - 1


def test_spent_alpha_shrinks_with_each_use_and_sums_to_alpha():
    levels = [spent_alpha(k) for k in range(1, 100_001)]

    assert levels[0] == pytest.approx(SIGNIFICANCE_LEVEL * 6 / np.pi**2)
    assert levels[1] == pytest.approx(levels[0] / 4)
    assert sum(levels) < SIGNIFICANCE_LEVEL
    assert sum(levels) > 0.9999 * SIGNIFICANCE_LEVEL
    with pytest.raises(MlpkgError, match="start at 1"):
        spent_alpha(0)


def test_a_later_use_of_the_same_holdout_needs_a_smaller_p_value():
    """A gain whose p lies between alpha_5 and alpha_1 passes as first use, not as fifth."""
    holdout = _holdout((0.006, 0.006, 0.006, 0.006), seed=0)
    p = holdout_dm(holdout, "lstm", "majority", 5).p_value
    assert spent_alpha(5) < p < spent_alpha(1)
    first, fifth = _decide(holdout, use=1), _decide(holdout, use=5)

    assert _conditions(first)["beats_naive"] and not _conditions(fifth)["beats_naive"]
    assert "alpha_5 = " in fifth.lines()[0] and "use 5 of this holdout" in fifth.lines()[0]


def test_the_naive_reference_is_the_one_chosen_on_development_not_the_holdout_best():
    holdout = _holdout()
    assert (
        "over always_up (chosen on development"
        in decide_promotion(
            holdout, "lstm", baseline="always_up", horizon=5, champion=None
        ).lines()[0]
    )
