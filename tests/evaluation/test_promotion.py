"""The promotion rule on synthetic holdouts: every condition can fail on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.evaluation.promotion import (
    MIN_GAIN_NATS,
    ChampionEvidence,
    decide_promotion,
    manual_decision,
)
from mlpkg.evaluation.splits import block_labels
from mlpkg.models.baselines import NAIVE_BASELINES

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


def _decide(holdout: pd.DataFrame, champion: ChampionEvidence | None = None):
    return decide_promotion(holdout, "lstm", naive=NAIVE_BASELINES, horizon=5, champion=champion)


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
