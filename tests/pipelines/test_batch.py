"""Unit tests of the batch runner (papermill replaced by fakes; the real runs are in
tests/notebooks)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from mlpkg.config import Settings
from mlpkg.errors import ConfigError, UnknownPairError
from mlpkg.pipelines import batch, notebook_run
from mlpkg.pipelines.batch import BatchSummary, NotebookResult

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, pairs=["BTC", "ETH", "XMR"])


def _client(settings: Settings) -> mlflow.MlflowClient:
    uri = settings.resolved_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _result(pair: str, notebook: str, error: str = "") -> NotebookResult:
    status = "failed" if error else "ok"
    return NotebookResult(pair, notebook, status, "r1", 1.5, error, Path("x.ipynb"))


def test_kind_of_reads_the_notebook_name():
    assert notebook_run.kind_of("10-train-pair") == "train"
    assert notebook_run.kind_of("20-evaluate-pair") == "evaluate"
    assert notebook_run.kind_of("custom") == "custom"


def test_summary_text_lists_every_result_and_why_each_failure_failed():
    summary = BatchSummary(
        (
            _result("BTC", "10-train-pair"),
            _result("ETH", "10-train-pair", "ConfigError: Invalid run parameters: epochs (cell 3)"),
        )
    )
    assert not summary.ok
    assert [r.pair for r in summary.failures] == ["ETH"]
    lines = summary.text.splitlines()
    assert lines[0].split() == ["pair", "notebook", "status", "seconds", "run_id"]
    assert lines[1].split()[:3] == ["BTC", "10-train-pair", "ok"]
    assert "failed: ETH/10-train-pair: ConfigError: Invalid run parameters: epochs" in summary.text
    assert "1/2 notebooks succeeded" in summary.text


def test_summary_is_ok_when_every_notebook_succeeded():
    assert BatchSummary((_result("BTC", "10-train-pair"),)).ok


def test_describe_error_keeps_the_first_line_of_the_kernel_error():
    exc = PapermillExecutionError(
        cell_index=3,
        exec_count=3,
        source="config = ...",
        ename="ConfigError",
        evalue="Invalid run parameters: model.epochs: Input should be >= 1.\nmore",
        traceback=[],
    )
    assert notebook_run.describe_error(exc) == (
        "ConfigError: Invalid run parameters: model.epochs: Input should be >= 1. (at In [3])"
    )
    assert (
        notebook_run.describe_error(RuntimeError("kernel died\ndetails"))
        == "RuntimeError: kernel died"
    )


def test_kernel_environment_reproduces_the_settings_in_another_process(settings, monkeypatch):
    settings = Settings(home=settings.home, pairs=settings.pairs, api_token="secret")
    env = notebook_run.kernel_environment(settings)
    assert env["MLFLOW_TRACKING_URI"] == settings.resolved_tracking_uri
    assert "MLPKG_API_TOKEN" not in env
    for key in [k for k in os.environ if k.startswith("MLPKG_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen = Settings()
    assert seen.resolved_tracking_uri == settings.resolved_tracking_uri
    assert seen.pairs == ["BTC", "ETH", "XMR"]
    assert seen.resolve(seen.reports_dir) == settings.resolve(settings.reports_dir)


def test_patched_environ_restores_the_environment(monkeypatch):
    monkeypatch.setenv("MLPKG_TEST_KEEP", "old")
    monkeypatch.setenv("MLPKG_TEST_DROP", "here")
    monkeypatch.delenv("MLPKG_TEST_NEW", raising=False)
    with notebook_run.patched_environ(
        {"MLPKG_TEST_KEEP": "new", "MLPKG_TEST_NEW": "1"}, remove=("MLPKG_TEST_DROP",)
    ):
        assert os.environ["MLPKG_TEST_KEEP"] == "new"
        assert os.environ["MLPKG_TEST_NEW"] == "1"
        assert "MLPKG_TEST_DROP" not in os.environ
    assert os.environ["MLPKG_TEST_KEEP"] == "old"
    assert os.environ["MLPKG_TEST_DROP"] == "here"
    assert "MLPKG_TEST_NEW" not in os.environ


def test_jsonable_params_turns_tuples_into_lists():
    params = batch.jsonable_params({"return_lookbacks": (1, 5), "lstm_epochs": 2})
    assert params == {"return_lookbacks": [1, 5], "lstm_epochs": 2}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pair": "ETH"}, "must not set pair"),
        ({"run_id": "abc"}, "must not set run_id"),
        ({"lstm_epochs": -1}, "lstm_epochs"),
        ({"windw": 8}, "Unknown run parameter 'windw'"),
    ],
)
def test_jsonable_params_rejects_bad_parameters(params, message):
    with pytest.raises(ConfigError, match=message):
        batch.jsonable_params(params)


def test_choose_kernel_falls_back_to_python3_and_says_so(monkeypatch, caplog):
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {"python3": "/x"})
    with caplog.at_level(logging.WARNING, logger="mlpkg.pipelines.batch"):
        assert batch.choose_kernel() == "python3"
    assert "'mlpkg' is not installed" in caplog.text


def test_notebook_path_prefers_the_project_notebooks(settings):
    assert batch.notebook_path("10-train-pair", settings).name == "10-train-pair.ipynb"
    with pytest.raises(ConfigError, match="Notebook 'nope' not found"):
        batch.notebook_path("nope", settings)


def test_notebook_path_finds_the_installed_notebooks_without_a_source_tree(
    settings, tmp_path, monkeypatch
):
    prefix = tmp_path / "venv"
    installed = prefix / "share" / "mlpkg" / "notebooks"
    installed.mkdir(parents=True)
    source = ROOT / "notebooks" / "10-train-pair.ipynb"
    (installed / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(batch, "_SOURCE_NOTEBOOKS", tmp_path / "site-packages" / "notebooks")
    monkeypatch.setattr(batch.sysconfig, "get_path", lambda name, scheme=None: str(prefix))

    assert batch.installed_notebook_dirs() == [installed]
    assert batch.notebook_path("10-train-pair", settings) == installed / source.name
    with pytest.raises(ConfigError, match=rf"Notebook 'nope' not found.*{installed}"):
        batch.notebook_path("nope", settings)


def test_notebook_path_rejects_a_notebook_without_run_id(settings):
    folder = settings.home / "notebooks"
    folder.mkdir()
    cell = new_code_cell('pair = "BTC"')
    cell.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    nbformat.write(notebook, folder / "30-other.ipynb")
    with pytest.raises(ConfigError, match=r"no parameter.*run_id"):
        batch.notebook_path("30-other", settings)


def test_run_batch_validates_everything_before_opening_a_run(settings):
    with pytest.raises(UnknownPairError, match="DOGE"):
        batch.run_batch(["BTC", "DOGE"], settings=settings)
    with pytest.raises(ConfigError, match="lstm_epochs"):
        batch.run_batch(["BTC"], extra_params={"lstm_epochs": 0}, settings=settings)
    assert not (settings.home / "mlruns").exists()


def _fake_kernel(fail: bool):
    """A stand-in for papermill: writes the output notebook, logs like the kernel, may fail."""

    def execute_notebook(input_path, output_path, *, parameters, **kwargs):
        client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
        client.log_param(parameters["run_id"], "lstm_epochs", parameters["lstm_epochs"])
        client.set_terminated(parameters["run_id"], "FAILED" if fail else "FINISHED")
        nbformat.write(new_notebook(cells=[new_code_cell("1")]), output_path)
        if fail:
            raise PapermillExecutionError(
                4, 4, "train_pair(config)", "UnknownPairError", "No candles for XMR", []
            )

    return execute_notebook


@pytest.mark.parametrize("fail", [False, True])
def test_run_batch_logs_the_notebook_and_sets_the_final_status(settings, monkeypatch, fail):
    monkeypatch.setattr(batch.papermill, "execute_notebook", _fake_kernel(fail))
    messages: list = []  # ProgressEvent
    summary = batch.run_batch(
        ["btc", "ETH"],
        notebooks=("10-train-pair",),
        extra_params={"lstm_epochs": 2},
        settings=settings,
        progress=messages.append,
    )
    assert summary.ok is not fail
    assert [(r.pair, r.notebook) for r in summary.results] == [
        ("BTC", "10-train-pair"),
        ("ETH", "10-train-pair"),
    ]
    assert [m.kind for m in messages] == ["stage", "notebook", "stage", "notebook"]
    assert messages[1].text.startswith("[1/2] BTC 10-train-pair ... ")
    assert messages[3].text.startswith("[2/2] ETH 10-train-pair ... ")
    assert [(m.done, m.total) for m in messages[1::2]] == [(1, 2), (2, 2)]
    client = _client(settings)
    for result in summary.results:
        run = client.get_run(result.run_id)
        assert run.info.status == ("FAILED" if fail else "FINISHED")
        assert run.data.params["lstm_epochs"] == "2"  # what the "kernel" logged survives
        assert run.data.tags["kind"] == "train"
        assert run.data.tags["notebook"] == "10-train-pair"
        logged = [a.path for a in client.list_artifacts(result.run_id, "notebooks")]
        assert logged == ["notebooks/10-train-pair.ipynb"]
        assert result.output == settings.home / "reports/executed" / result.pair / (
            "10-train-pair.ipynb"
        )
    if fail:
        assert "UnknownPairError: No candles for XMR (at In [4])" in summary.text
        assert (
            client.get_run(summary.results[0].run_id)
            .data.tags["error"]
            .startswith("UnknownPairError")
        )
