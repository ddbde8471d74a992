from __future__ import annotations

import math

from mlpkg.tracking.registry import decide_promotion, model_name


def test_model_name_follows_the_registry_convention():
    assert model_name("BTC") == "mlpkg-BTC"


def test_promotes_when_beating_every_baseline_and_no_champion():
    decision = decide_promotion(0.68, {"majority": 0.69, "logistic": 0.685}, None)
    assert decision.promote
    assert "logistic" in decision.reason and "no champion" in decision.reason


def test_does_not_promote_when_a_baseline_is_better():
    decision = decide_promotion(0.70, {"majority": 0.69, "logistic": 0.71}, None)
    assert not decision.promote
    assert "majority" in decision.reason


def test_does_not_promote_on_a_tie_with_the_best_baseline():
    assert not decide_promotion(0.69, {"majority": 0.69}, None).promote


def test_does_not_promote_when_the_champion_is_better():
    decision = decide_promotion(0.68, {"majority": 0.69}, champion=0.67)
    assert not decision.promote
    assert "champion" in decision.reason


def test_promotes_over_a_worse_champion():
    assert decide_promotion(0.66, {"majority": 0.69}, champion=0.67).promote


def test_never_promotes_a_non_finite_score_or_without_baselines():
    assert not decide_promotion(math.nan, {"majority": 0.69}, None).promote
    assert not decide_promotion(0.5, {}, None).promote
