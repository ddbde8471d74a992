"""The command line: one quiet line per event, clear errors, the protocol's report on stdout."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from support import tiny_cli_args

from mlpkg import cli
from mlpkg.console import CliProgress, configure_logging
from mlpkg.progress import ProgressEvent, stage


def test_help_lists_every_command_and_every_run_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for command in ("train", "evaluate", "tune", "predict", "promote", "batch", "serve"):
        assert command in text
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--lstm-epochs" in text and "--models" in text and "--params-from" in text


def test_a_bad_value_is_one_line_with_exit_code_2(home, capsys):
    assert cli.main(["train", "--pair", "BTC", "--lstm-epochs", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Invalid run parameters: lstm_epochs")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert cli.main(["train", "--pair", "BTC", "--models", "xgboost"]) == 2
    assert "unknown model(s) ['xgboost']" in capsys.readouterr().err


def test_configure_logging_keeps_exactly_one_handler():
    for _ in range(3):
        configure_logging("INFO")
    assert len(logging.getLogger().handlers) == 1
    assert logging.getLogger("mlflow").level == logging.WARNING
    assert logging.getLogger("mlflow").handlers == []


def test_progress_writes_plain_lines_when_not_on_a_terminal(caplog):
    with caplog.at_level(logging.INFO, logger="mlpkg"), CliProgress(4, "x", bars=False) as seen:
        seen(ProgressEvent("fit", "fold 1/2 lstm: fit 1.0s on 10 rows", 1, 4))
        seen(stage("final fit on every labelled row"))
    assert [r.getMessage() for r in caplog.records] == [
        "fold 1/2 lstm: fit 1.0s on 10 rows",
        "final fit on every labelled row",
    ]


def test_progress_bar_counts_the_events_of_its_kinds_and_writes_the_others(capsys):
    with CliProgress(None, "x", bars=True, kinds=("trial",)) as seen:
        seen(stage("study s: 2 trial(s) to run"))
        seen(ProgressEvent("trial", "trial 0 [1/2] complete", 1, 2))
        seen(ProgressEvent("fit", "not counted here", 1, 9))
        bar = seen.bar
        assert (bar.n, bar.total) == (1, 2)  # the total came from the event
    err = capsys.readouterr().err
    assert "study s: 2 trial(s) to run" in err and "not counted here" in err


def _mlpkg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlpkg.cli *args`` in ``env``; its exit code and output, captured."""
    command = [sys.executable, "-m", "mlpkg.cli", *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_train_predict_promote_are_quiet_and_say_what_happened(home, capsys):
    """The train is a real process (TensorFlow's C++ start-up lines would go to its fd 2) in a
    new home, so MLflow creates its store there; predict and promote read that store in process
    (like the next test), which is all their output depends on."""
    env = {**os.environ, "MLPKG_HOME": str(home), "PYTHONWARNINGS": ""}
    train = _mlpkg(env, "train", "--pair", "BTC", *tiny_cli_args(models="lstm,logistic"))
    assert train.returncode == 0, train.stderr[-2000:]
    out, err = train.stdout, train.stderr
    assert "DEVELOPMENT:" in out and "HOLDOUT (scored once)" in out
    assert "one-sided, HLN" in out and "candidates that scored rows of this holdout: 1" in out
    assert "alpha_1 = 0.0304" in out
    assert "beats_naive" in out and "wins_blocks" in out and "not_worse_than_champion" in out
    for noise in (
        "absl::InitializeLog",
        "oneDNN",
        "Creating initial MLflow",
        "Downloading",
        "Successfully registered",
        "UserWarning",
        "FutureWarning",
    ):
        assert noise not in err, noise
    lines = [line.split(" ", 1)[1] for line in err.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), "a log line was printed twice"

    assert cli.main(["predict", "--pair", "BTC"]) == 0
    predicted = capsys.readouterr().out
    assert "BTC (candidate, version 1): P(up in 5 candles after" in predicted
    assert "signal HOLD (no trade signal: not promoted)" in predicted

    assert cli.main(["promote", "--pair", "BTC", "--version", "1"]) == 0
    assert capsys.readouterr().out.strip() == "mlpkg-BTC version 1 is now champion."
    assert cli.main(["predict", "--pair", "BTC"]) == 0
    again = capsys.readouterr().out
    assert "BTC (champion, version 1)" in again and "not promoted" not in again


def test_a_second_model_of_a_pair_per_interval_and_horizon(home, capsys):
    """`mlpkg train --pair BTC --interval 4h --horizon 6` registers mlpkg-BTC-4h-h6."""
    args = tiny_cli_args(models="logistic", max_rows=0, n_folds=2)
    assert cli.main(["train", "--pair", "BTC", "--interval", "4h", "--horizon", "6", *args]) == 0
    assert "Registered mlpkg-BTC-4h-h6 version 1" in capsys.readouterr().out
    which = ["--pair", "BTC", "--interval", "4h", "--horizon", "6"]
    assert cli.main(["predict", *which]) == 0
    assert "BTC-4h-h6 (candidate, version 1): P(up in 6 candles after" in capsys.readouterr().out
    assert cli.main(["promote", *which, "--version", "1"]) == 0
    assert capsys.readouterr().out.strip() == "mlpkg-BTC-4h-h6 version 1 is now champion."
    assert cli.main(["predict", "--pair", "BTC"]) == 2  # the default model: none trained yet
    assert "No champion model for BTC" in capsys.readouterr().err
