"""`mlpkg tune` and `mlpkg train --params-from` on the command line: the errors a user meets."""

from __future__ import annotations

import pytest

from mlpkg import cli
from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines.tune import apply_tuned_params
from mlpkg.tracking import runs, trials


def test_tune_without_a_family_names_the_families(home, capsys):
    assert cli.main(["tune", "--pair", "BTC"]) == 2
    assert "tune one of lstm, gru, cnn, transformer, lightgbm, logistic (--family)" in (
        capsys.readouterr().err
    )


def test_resume_without_a_study_says_how_to_start_one(home, capsys):
    assert cli.main(["tune", "--pair", "BTC", "--family", "lstm", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "No study for BTC/lstm" in err and "without --resume" in err


def test_resume_refuses_run_options_it_would_ignore(home, capsys):
    assert cli.main(["tune", "--family", "lstm", "--resume", "--lstm-epochs", "3"]) == 2
    assert "drop --lstm-epochs" in capsys.readouterr().err


def test_an_unknown_family_is_refused_by_the_parser(home, capsys):
    with pytest.raises(SystemExit):
        cli.main(["tune", "--family", "svm"])
    assert "invalid choice: 'svm'" in capsys.readouterr().err


def test_params_from_a_run_that_is_not_a_tune_says_what_to_pass(home, capsys):
    settings = Settings(home=home)
    with runs.pair_run("BTC", settings=settings) as run:
        pass
    assert cli.main(["train", "--params-from", run.info.run_id]) == 2
    assert "has no best_trial.json" in capsys.readouterr().err


def test_tuned_params_replace_the_options_and_the_family_becomes_the_model(caplog):
    best = {
        "family": "lightgbm",
        "pair": "ETH",
        "horizon": 5,
        "params": {"lightgbm_num_leaves": 12, "lightgbm_learning_rate": 0.02},
    }
    config = RunConfig.from_flat(pair="BTC", lightgbm_num_leaves=40)
    merged = apply_tuned_params(config, best, {"lightgbm_num_leaves", "pair"})
    assert merged.models == ("lightgbm",)
    assert (merged.lightgbm.num_leaves, merged.lightgbm.learning_rate) == (12, 0.02)
    assert merged.pair == "BTC"
    assert "replaces the options lightgbm_num_leaves" in caplog.text
    assert "chosen for pair=ETH" in caplog.text
    assert trials.BEST_TRIAL_FILE == "best_trial.json"
