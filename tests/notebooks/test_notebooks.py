"""The notebooks: thin, parameterised, clean, and they really run (papermill, nbval, run_batch).

Static checks are fast. The executing tests (markers ``notebook`` and ``slow``) run the notebooks
headless with tiny parameters into an MLflow SQLite store under ``tmp_path`` and assert on the
runs they made. Tests that check different things of the same execution share it (the module
fixtures ``batch``, ``compared`` and ``without_pair``).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import nbformat
import papermill
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from papermill.exceptions import PapermillExecutionError
from support import seed_store, subprocess_env, tiny_params, tiny_run_config

from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines.batch import choose_kernel, run_batch

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
RUN_NOTEBOOKS = ("10-train-pair", "20-evaluate-pair")
EXPLORE = NOTEBOOKS / "00-explore-features.ipynb"
TINY = tiny_params(models="logistic", max_rows=900, n_folds=1, importance_rows=50)
"""The suite's tiny run (tests/support.py) of logistic regression on 900 rows, TensorFlow-free.

What the notebooks and the batch do is the same for every family; the one LSTM of this module
(its training curves) is trained by the ``compared`` fixture, whose run notebook 30 reads back."""
executes = [pytest.mark.notebook, pytest.mark.slow]


def _ids(paths):
    return [p.stem for p in paths]


def _code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _client(uri: str) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifacts(client: mlflow.MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


# ----------------------------------------------------------------------------- static


def test_the_notebooks_exist():
    expected = {"00-explore-features", *RUN_NOTEBOOKS, "30-compare-models"}
    assert {p.stem for p in ALL_NOTEBOOKS} >= expected


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_notebook_parses_and_validates(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "mlpkg"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_notebook_defines_no_function_or_class(path):
    transform = TransformerManager().transform_cell
    for cell in _code_cells(path):
        tree = ast.parse(transform(cell.source))
        defined = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        assert defined == [], f"{path.name}: move {defined} into mlpkg"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_the_first_code_cell_is_the_only_parameters_cell(path):
    cells = _code_cells(path)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_every_parameter_is_annotated_and_documented(path):
    params = papermill.inspect_notebook(str(path))
    assert params
    for name, spec in params.items():
        assert spec["inferred_type_name"] != "None", f"{name} has no annotation"
        assert spec["help"].strip(), f"{name} has no help comment"
        assert ast.literal_eval(spec["default"]) is not None


@pytest.mark.parametrize("name", RUN_NOTEBOOKS)
def test_run_notebook_parameters_are_the_run_config_fields(name):
    params = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert list(params) == [*RunConfig.flat_fields(), "run_id"]


@pytest.mark.parametrize("name", RUN_NOTEBOOKS)
def test_run_notebook_defaults_are_the_run_config_defaults(name):
    params = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in params.items()}
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in RunConfig().to_flat().items()}
    # An empty calendar means "the pair's MLPKG_CALENDARS entry"; RunConfig() resolves it (24/7).
    assert expected["calendar"] == "24/7"
    assert defaults == {**expected, "calendar": "", "run_id": ""}


@pytest.mark.parametrize("name", RUN_NOTEBOOKS)
def test_run_notebooks_share_the_packages_parameters_and_validation_cells(name):
    from mlpkg.pipelines.notebooks import parameters_source

    cells = _code_cells(NOTEBOOKS / f"{name}.ipynb")
    assert cells[0].source == parameters_source(), "regenerate: python -m mlpkg.pipelines.notebooks"
    assert "config = config_from_namespace(globals())" in cells[1].source


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path):
    for cell in _code_cells(path):
        assert cell.outputs == []
        assert cell.execution_count is None


def test_nb_clean_check_passes_keeping_the_parameters_tags():
    nb_clean = shutil.which("nb-clean", path=str(Path(sys.executable).parent))
    if nb_clean is None:
        pytest.skip("nb-clean is not installed")
    cmd = [nb_clean, "check", "--preserve-cell-metadata-field", "tags", str(NOTEBOOKS)]
    completed = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


# -------------------------------------------------------------------------- execution


def _point_kernels_at(home: Path, monkeypatch: pytest.MonkeyPatch, mlflow_schema: Path) -> str:
    """Point the notebook kernels (they inherit this environment) at a store in ``home``."""
    for key in [k for k in os.environ if k.startswith("MLPKG_") or k.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLPKG_HOME", str(home))
    monkeypatch.setenv("MLPKG_MLRUNS_DIR", str(home / "mlruns"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    seed_store(Settings(), mlflow_schema)  # the kernels skip MLflow's migrations
    return Settings().resolved_tracking_uri


@pytest.fixture
def kernel_env(tmp_path, monkeypatch, mlflow_schema) -> str:
    """Point the notebook kernels at a store in tmp_path; return its URI."""
    return _point_kernels_at(tmp_path, monkeypatch, mlflow_schema)


def _execute(name: str, tmp_path: Path, **parameters):
    output = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(output),
        parameters=parameters,
        kernel_name=choose_kernel(),
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return nbformat.read(output, as_version=4)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"lstm_epochs": -1}, "lstm_epochs: Input should be greater than or equal to 1"),
        ({"lstm_window": "abc"}, "lstm_window: Input should be a valid integer"),
        ({"models": "lstm,foo"}, "models: unknown model(s) ['foo']"),
    ],
)
@pytest.mark.notebook
@pytest.mark.slow
def test_a_bad_parameter_fails_the_validation_cell_with_the_config_error(
    tmp_path, kernel_env, bad, message
):
    with pytest.raises(PapermillExecutionError) as failure:
        _execute("10-train-pair", tmp_path, **bad)
    assert failure.value.ename == "ConfigError"
    assert message in failure.value.evalue
    assert "config_from_namespace" in failure.value.source, "it fails in the validation cell"
    assert not list((tmp_path / "mlruns").glob("artifacts/*")), "no run may have been logged"


@pytest.mark.notebook
@pytest.mark.slow
def test_evaluate_notebook_logs_a_run_with_params_metrics_and_plots(tmp_path, kernel_env):
    executed = _execute("20-evaluate-pair", tmp_path, pair="btc", **TINY)
    client = _client(kernel_env)
    experiment = client.get_experiment_by_name("mlpkg/BTC")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["kind"] == "evaluate"
    assert run.data.params["pair"] == "BTC"
    assert run.data.params["horizon"] == "5"
    assert run.data.params["lstm_epochs"] == "1"
    metrics = set(run.data.metrics)
    assert {"dev_majority_log_loss_mean", "dev_logistic_log_loss_mean"} <= metrics
    assert not any(m.startswith("holdout_") for m in metrics), "evaluate never scores the holdout"
    artifacts = _artifacts(client, run.info.run_id)
    assert {
        "config.json",
        "plots/dev_reliability_logistic.png",
        "plots/dev_equity.png",
        "permutation_importance.csv",
        "plots/dev_permutation_importance.png",
    } <= artifacts
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "plots are displayed"
    assert any("Selected on the development folds" in o.get("text", "") for o in outputs)
    assert any(
        "SIGNAL POLICY (chosen on the development folds" in o.get("text", "") for o in outputs
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One batch over BTC (has data) and XMR (configured, no data) with both notebooks."""
    home = tmp_path_factory.mktemp("batch")
    settings = Settings(
        home=home,
        pairs=["BTC", "XMR"],
        tracking_uri=None,
        mlruns_dir=Path("mlruns"),
        reports_dir=Path("reports"),
        data_source="shipped",
    )
    messages: list = []  # ProgressEvent
    uri = mlflow.get_tracking_uri()
    summary = run_batch(
        ["BTC", "XMR"], extra_params=TINY, settings=settings, progress=messages.append
    )
    mlflow.set_tracking_uri(uri)
    return summary, settings, messages


def _result(summary, pair: str, notebook: str):
    return next(r for r in summary.results if (r.pair, r.notebook) == (pair, notebook))


def _batch_run(batch, pair: str, notebook: str):
    """The batch's result for ``pair``/``notebook``, a client of its store and its MLflow run."""
    summary, settings, _ = batch
    result = _result(summary, pair, notebook)
    client = _client(settings.resolved_tracking_uri)
    return result, client, client.get_run(result.run_id)


@pytest.mark.notebook
@pytest.mark.slow
def test_batch_reports_the_failed_pair_and_runs_the_other(batch):
    summary, _, messages = batch
    assert not summary.ok
    assert [(r.pair, r.notebook, r.status) for r in summary.results] == [
        ("BTC", "10-train-pair", "ok"),
        ("BTC", "20-evaluate-pair", "ok"),
        ("XMR", "10-train-pair", "failed"),
        ("XMR", "20-evaluate-pair", "failed"),
    ]
    failed = _result(summary, "XMR", "10-train-pair")
    assert "XMR" in failed.error
    assert f"failed: XMR/10-train-pair: {failed.error}" in summary.text
    assert any(m.text.startswith("[1/2] BTC 10-train-pair ... ok in ") for m in messages)
    assert any(m.text.startswith("[2/2] XMR 20-evaluate-pair ... FAILED") for m in messages)


@pytest.mark.notebook
@pytest.mark.slow
def test_batch_train_run_holds_params_metrics_plots_notebook_and_a_candidate(batch):
    result, client, run = _batch_run(batch, "BTC", "10-train-pair")
    assert run.info.status == "FINISHED"
    assert run.data.tags["kind"] == "train"
    assert run.data.tags["notebook"] == "10-train-pair"
    assert (run.data.params["pair"], run.data.params["lstm_epochs"]) == ("BTC", "1")
    assert run.data.params["lstm_window"] == "8"
    assert {
        "dev_logistic_log_loss_mean",
        "dev_majority_log_loss_mean",
        "holdout_logistic_log_loss",
        "holdout_uses",
    } <= set(run.data.metrics)
    artifacts = _artifacts(client, result.run_id)
    assert {
        "config.json",
        "notebooks/10-train-pair.ipynb",
        "plots/dev_reliability_logistic.png",
        "holdout_report.txt",
    } <= artifacts
    candidate = client.get_model_version_by_alias("mlpkg-BTC", "candidate")
    assert candidate.run_id == result.run_id
    assert result.output == batch[1].home / "reports/executed/BTC/10-train-pair.ipynb"
    assert result.output.is_file()


@pytest.mark.notebook
@pytest.mark.slow
def test_batch_evaluate_run_is_finished_with_its_notebook(batch):
    result, client, run = _batch_run(batch, "BTC", "20-evaluate-pair")
    assert run.info.status == "FINISHED"
    assert run.data.tags["kind"] == "evaluate"
    assert "dev_logistic_log_loss_mean" in run.data.metrics
    assert "notebooks/20-evaluate-pair.ipynb" in _artifacts(client, result.run_id)


@pytest.mark.notebook
@pytest.mark.slow
def test_batch_failed_run_is_failed_with_its_partial_notebook_and_error(batch):
    result, client, run = _batch_run(batch, "XMR", "10-train-pair")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == result.error
    assert {"notebooks/10-train-pair.ipynb", "error.txt"} <= _artifacts(client, result.run_id)
    executed = nbformat.read(result.output, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and "XMR" in errors[0].evalue


@pytest.mark.notebook
@pytest.mark.slow
def test_explore_notebook_runs_under_nbval_lax(tmp_path):
    # That pytest loads only nbval and pytest-timeout (pyproject's `timeout`): the other
    # plugins' imports (hypothesis, ...) cost 2 s of CPU.
    env = {**subprocess_env(tmp_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "nbval",
        "-p",
        "pytest_timeout",
        "--nbval-lax",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-q",
        "--rootdir",
        str(ROOT),
        str(EXPLORE),
    ]
    completed = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout
    assert "failed" not in completed.stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def compared(tmp_path_factory, mlflow_schema):
    """Notebook 30 on BTC (default: the shipped pairs benchmark in part 2) after a training run.

    One execution for the tests of part 1 (the run read back) and of part 2 (the shipped
    summary). The training is the module's one LSTM: a neural family's own output, its training
    curves, is checked on this run.
    """
    from mlpkg.pipelines.train import train_pair

    home = tmp_path_factory.mktemp("compare")
    uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with pytest.MonkeyPatch.context() as monkeypatch:
        uri = _point_kernels_at(home, monkeypatch, mlflow_schema)
        config = tiny_run_config(
            models="lstm,logistic,stacked", max_rows=900, n_folds=1, importance_rows=50
        )
        trained = train_pair(config, Settings())
        executed = _execute("30-compare-models", home, pair="BTC")
    mlflow.set_tracking_uri(uris[0])
    mlflow.set_registry_uri(uris[1])
    return trained, executed, uri


def _part_two(executed) -> int:
    """The index of the notebook's first cell of part 2 (learning across pairs)."""
    return next(i for i, c in enumerate(executed.cells) if c.source.startswith("# 2."))


def _texts(cells) -> str:
    outputs = [o for c in cells for o in c.get("outputs", [])]
    plain = [o.get("data", {}).get("text/plain", "") for o in outputs]
    return "".join(o.get("text", "") for o in outputs) + "".join(plain)


@pytest.mark.notebook
@pytest.mark.slow
def test_the_compared_training_run_logged_the_lstms_training_curves(compared):
    trained, _, uri = compared
    logged = _artifacts(_client(uri), trained.run_id)
    assert {"plots/training_curves_lstm.png", "plots/dev_reliability_lstm.png"} <= logged


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_reads_a_training_run_back_from_mlflow(compared):
    trained, executed, _ = compared

    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    texts = "".join(o.get("text", "") for o in outputs)
    assert f"MLflow run {trained.run_id}: 3 candidates" in texts
    assert "HOLDOUT (scored once)" in texts and "Promotion:" in texts
    part_one = [o for c in executed.cells[: _part_two(executed)] for o in c.get("outputs", [])]
    images = [o for o in part_one if "image/png" in o.get("data", {})]
    assert len(images) == 4, "log loss, reliability curves, importance, holdout backtest"
    assert "HOLDOUT BACKTEST of the signal policy" in texts and "buy_hold" in texts
    tables = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "stacked" in tables and "log_loss_seed_std" in tables


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_shows_the_shipped_pairs_benchmark_by_default(compared):
    from mlpkg.pipelines.pooled_summary import load_summary

    _, executed, _ = compared

    shipped = load_summary(ROOT / "bench/pooled/summaries/full")
    part_two = executed.cells[_part_two(executed) :]
    texts = _texts(part_two)
    assert shipped.about.splitlines()[0] in texts
    for row in shipped.variants.itertuples():
        assert f"{row.dev_log_loss:.4f}" in texts, (row.pair, row.family, row.variant)
    for family, variant in shipped.wins[["family", "variant"]].itertuples(index=False):
        assert variant in texts and family in texts
    uses = shipped.holdout_uses.to_dict()
    assert f"Holdout uses per pair (every variant scored once): {uses}" in texts
    images = [o for c in part_two for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == shipped.variants["family"].nunique()


@pytest.fixture(scope="module")
def without_pair(tmp_path_factory, mlflow_schema):
    """Notebook 30 without a pair and with a missing results folder: its error and partial copy.

    One execution for the tests of part 1 skipped and of part 2's error.
    """
    home = tmp_path_factory.mktemp("compare-without-pair")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_kernels_at(home, monkeypatch, mlflow_schema)
        with pytest.raises(PapermillExecutionError) as failure:
            _execute("30-compare-models", home, pair="", pairs_results="no/such/folder")
    return failure.value, nbformat.read(home / "30-compare-models.out.ipynb", as_version=4)


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_skips_part_one_without_a_pair(without_pair):
    _, executed = without_pair
    part_one = executed.cells[: _part_two(executed)]
    assert "Part 1 skipped (no pair)." in _texts(part_one)
    assert not [o for c in part_one for o in c.get("outputs", []) if "data" in o]


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_says_how_to_fix_a_missing_results_folder(without_pair):
    failure, executed = without_pair
    assert failure.ename == "ResultsNotFoundError"
    assert "variants.csv" in failure.evalue and "bench_pooled.py" in failure.evalue
    failed = [
        i
        for i, cell in enumerate(executed.cells)
        if any(o.output_type == "error" for o in cell.get("outputs", []))
    ]
    assert len(failed) == 1 and failed[0] > _part_two(executed), "part 1 ran, part 2 failed"


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_runs_a_tiny_pairs_comparison_when_no_results_are_given(
    tmp_path, kernel_env
):
    executed = _execute(
        "30-compare-models",
        tmp_path,
        pair="",
        pairs_results="",
        tiny_pairs="BTC,ETH",
        tiny_families="logistic",
        tiny_rows=1200,
    )

    texts = _texts(executed.cells[_part_two(executed) :])
    assert "Tiny comparison run now" in texts
    for unit in ("BTC per_pair", "BTC cross", "BTC pooled", "BTC pooled_ind", "ETH cold"):
        assert f"{unit}: " in texts, unit
    assert "Holdout uses per pair (every variant scored once): {'BTC': 4, 'ETH': 4}" in texts
    for column in ("dev_fold_std", "dev_seed_std", "holdout_dm_p", "dev_wins", "cold_pooled_dm_p"):
        assert column in texts
