"""Selection on development folds: ensembles out of sample, scores, budgets, final weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.evaluation.selection import (
    Procedure,
    add_ensembles,
    candidate_scores,
    choose_candidate,
    final_weights,
    median_budget,
    weighted_members,
)


def _rows(model: str, p, y, times, fold, seed: int, **extra) -> pd.DataFrame:
    """One model's development predictions in the columns the evaluation writes."""
    columns = {"fold": fold, "seed": seed, **extra, "open_time": times, "model": model}
    return pd.DataFrame({**columns, "proba_up": p, "y_true": y, "future_return": 0.0})


def _dev_predictions(n_folds: int = 3, rows: int = 300, seeds=(42,)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for fold in range(n_folds):
        times = pd.date_range(f"2024-0{fold + 1}-01", periods=rows, freq="h", tz="UTC")
        y = rng.integers(0, 2, rows).astype(float)
        for seed in seeds:
            quality = {"lstm": 0.10, "gru": 0.05, "logistic": 0.0}
            for model, q in quality.items():
                p = np.clip(0.5 + q * (2 * y - 1) + rng.normal(0, 0.1, rows), 0.05, 0.95)
                frames.append(_rows(model, p, y, times, fold, seed, cutoff=times[0]))
    return pd.concat(frames, ignore_index=True)


def test_weighted_uses_the_replaced_services_fixed_weights_over_neural_members():
    assert weighted_members(["lstm", "gru", "lightgbm"]) == {"lstm": 1.0, "gru": 0.9}
    predictions, _ = add_ensembles(_dev_predictions(), ["weighted"], ["lstm", "gru", "logistic"])
    rows = predictions[predictions["fold"] == 0].pivot_table(
        index="open_time", columns="model", values="proba_up"
    )
    expected = (rows["lstm"] * 1.0 + rows["gru"] * 0.9) / 1.9
    np.testing.assert_allclose(rows["weighted"], expected)


def test_stacked_weights_of_a_fold_never_see_that_fold_or_later_ones():
    predictions = _dev_predictions()
    _, weights = add_ensembles(predictions, ["stacked"], ["lstm", "gru", "logistic"])
    assert weights[0] == pytest.approx({"lstm": 1 / 3, "gru": 1 / 3, "logistic": 1 / 3})

    # Scramble folds 1 and 2: the weights used on fold 1 depend on fold 0 only.
    scrambled = predictions.copy()
    late = scrambled["fold"] >= 1
    scrambled.loc[late, "proba_up"] = np.random.default_rng(9).uniform(0, 1, int(late.sum()))
    _, again = add_ensembles(scrambled, ["stacked"], ["lstm", "gru", "logistic"])
    assert again[1] == pytest.approx(weights[1])
    assert weights[1]["lstm"] > weights[1]["logistic"]  # fitted, not equal


def test_the_lowest_mean_log_loss_is_chosen_and_ties_go_to_the_earlier_name():
    predictions = _dev_predictions(seeds=(42, 43))
    selection = choose_candidate(predictions, ["lstm", "gru", "logistic"], {})
    assert selection.chosen == "lstm"
    assert selection.scores["lstm"] < selection.scores["gru"] < selection.scores["logistic"]

    twin = predictions[predictions["model"] == "lstm"].assign(model="gru")
    tied = pd.concat([predictions[predictions["model"] != "gru"], twin])
    assert choose_candidate(tied, ["gru", "lstm"], {}).chosen == "lstm"


def test_scores_average_folds_within_a_seed_then_seeds():
    predictions = _dev_predictions(n_folds=2, seeds=(1, 2))
    scores = candidate_scores(predictions, ["lstm"])
    rows = predictions[predictions["model"] == "lstm"]
    from mlpkg.evaluation.metrics import log_losses

    per = rows.groupby(["seed", "fold"]).apply(
        lambda g: log_losses(g["y_true"], g["proba_up"]).mean()
    )
    assert scores["lstm"] == pytest.approx(per.groupby(level="seed").mean().mean())


def test_median_budget_from_every_fold_fit_without_validation_tail():
    fits = pd.DataFrame(
        {"model": ["lstm"] * 4 + ["logistic"], "stopping_point": [2, 3, 7, 4, None]}
    )
    assert median_budget(fits, "lstm", "epochs") == {"epochs": 4, "validation_fraction": 0.0}
    assert median_budget(fits, "logistic", None) == {}


def test_final_stacked_weights_use_every_development_fold_and_round_trip():
    predictions = _dev_predictions()
    weights = final_weights(predictions, "stacked", ["lstm", "gru", "logistic"], 42)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["lstm"] == max(weights.values())
    procedure = Procedure("stacked", ("lstm", "gru", "logistic"), weights, {"lstm": {"epochs": 3}})
    assert Procedure.from_dict(procedure.as_dict()) == procedure
    assert final_weights(predictions, "gru", ["gru"], 42) == {"gru": 1.0}


def _contiguous_predictions(seeds=(42,), rows: int = 200) -> pd.DataFrame:
    """Three folds whose test blocks follow each other hour by hour (as walk-forward's do)."""
    rng = np.random.default_rng(1)
    frames = []
    times = pd.date_range("2024-01-01", periods=3 * rows, freq="h", tz="UTC")
    y = rng.integers(0, 2, 3 * rows).astype(float)
    for seed in seeds:
        for model, q in {"lstm": 0.10 - 0.09 * (seed - 42), "gru": 0.05, "logistic": 0.0}.items():
            p = np.clip(0.5 + q * (2 * y - 1) + rng.normal(0, 0.1, 3 * rows), 0.05, 0.95)
            frames.append(_rows(model, p, y, times, np.repeat(np.arange(3), rows), seed))
    return pd.concat(frames, ignore_index=True)


def test_stacking_weights_of_a_fold_leave_out_the_purge_before_it():
    """Fold 0's last rows carry labels that read fold 1's prices: they must not weigh fold 1."""
    families = ["lstm", "gru", "logistic"]
    predictions = _contiguous_predictions()
    purge = pd.Timedelta(hours=20)
    _, weights = add_ensembles(predictions, ["stacked"], families, purge=purge)

    fold1_start = predictions.loc[predictions["fold"] == 1, "open_time"].min()
    tail = (predictions["fold"] == 0) & (predictions["open_time"] >= fold1_start - purge)
    assert tail.sum() == 20 * 3  # 20 rows per member
    poisoned = predictions.copy()
    poisoned.loc[tail & (poisoned["model"] == "logistic"), "proba_up"] = poisoned.loc[
        tail & (poisoned["model"] == "logistic"), "y_true"
    ].clip(0.01, 0.99)
    _, again = add_ensembles(poisoned, ["stacked"], families, purge=purge)
    assert again[1] == pytest.approx(weights[1])


def test_the_stacked_fold_weights_reported_are_the_base_seeds():
    families = ["lstm", "gru", "logistic"]
    both = _contiguous_predictions(seeds=(42, 43))
    _, reported = add_ensembles(both, ["stacked"], families)
    _, base_only = add_ensembles(both[both["seed"] == 42], ["stacked"], families)
    _, other_only = add_ensembles(both[both["seed"] == 43], ["stacked"], families)
    assert reported[2] == pytest.approx(base_only[2])
    assert reported[2] != pytest.approx(other_only[2])
