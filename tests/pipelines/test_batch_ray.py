"""The batch runner's Ray executor: real papermill runs as Ray tasks, one pair failing."""

from __future__ import annotations

import mlflow
import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlpkg.config import Settings
from mlpkg.pipelines.batch import run_batch

from .conftest import ray_daemons

pytestmark = [pytest.mark.slow, pytest.mark.notebook]

SOURCE = """\
import mlflow
from mlpkg.data.sources import load_candles
from mlpkg.tracking.runs import pair_run

candles = load_candles(pair, "shipped")
with pair_run(pair, run_id=run_id):
    mlflow.log_metric("candles", len(candles))
"""


@pytest.fixture
def settings(tmp_path) -> Settings:
    """A project whose notebooks/ holds one tiny notebook: it loads the pair's candles."""
    params = new_code_cell('pair: str = "BTC"  # pair\nrun_id: str = ""  # MLflow run')
    params.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[params, new_code_cell(SOURCE)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    (tmp_path / "notebooks").mkdir()
    nbformat.write(notebook, tmp_path / "notebooks" / "90-candles.ipynb")
    return Settings(home=tmp_path, pairs=["BTC", "XMR"])


def test_ray_executor_runs_each_pair_as_a_task_and_reports_like_the_local_one(settings):
    import ray

    messages: list = []  # ProgressEvent
    summary = run_batch(
        ["BTC", "XMR"],
        notebooks=("90-candles",),
        settings=settings,
        progress=messages.append,
        executor="ray",
    )
    assert not ray.is_initialized(), "the embedded Ray is shut down after the batch"
    _, alive = psutil.wait_procs(ray_daemons(), timeout=30)
    assert not alive
    assert [(r.pair, r.status) for r in summary.results] == [("BTC", "ok"), ("XMR", "failed")]
    assert not summary.ok, "the CLI exits 1, as with the local executor"
    failed = summary.results[1]
    assert "XMR" in failed.error
    assert f"failed: XMR/90-candles: {failed.error}" in summary.text
    assert any(m.text.startswith("[1/2] BTC 90-candles ... ok in ") for m in messages)
    assert any(m.text.startswith("[2/2] XMR 90-candles ... FAILED") for m in messages)
    finished = [m for m in messages if m.kind == "notebook"]
    assert sorted(m.done for m in finished) == [1, 2] and {m.total for m in finished} == {2}
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    ok, bad = (client.get_run(r.run_id) for r in summary.results)
    assert ok.info.status == "FINISHED" and ok.data.metrics["candles"] > 10_000
    assert bad.info.status == "FAILED" and bad.data.tags["error"] == failed.error
    for result in summary.results:
        logged = [a.path for a in client.list_artifacts(result.run_id, "notebooks")]
        assert logged == ["notebooks/90-candles.ipynb"]
        assert result.output == settings.home / "reports/executed" / result.pair / (
            "90-candles.ipynb"
        )
