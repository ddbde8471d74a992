"""A server whose versions all carry ONNX never imports TensorFlow; older versions use Keras.

One real server process (``uvicorn mlpkg.serving.app:create_app``, as ``mlpkg serve`` runs it)
writes ``sorted(sys.modules)`` when it exits: it answers predictions of the lstm champion and of
the stacked (lstm + logistic) ensemble, runs a neural retrain in a child process and serves its
version, stops gracefully, and the list is read. The two are trained here into a store of their
own (the LSTM -> ONNX path; the rest of the serving tests use the session's TensorFlow-free
LightGBM model). A version registered before ONNX is checked in process: which runtime serves it
is the behaviour there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import mlflow
import pytest
from support import Registry, free_port, poll_until, tiny_params, train_champion

from mlpkg.tracking import registry
from mlpkg.tracking.export import ONNX_FILE

from .conftest import EnsembleRegistry, make_settings, register_stacked, run_server

pytestmark = pytest.mark.slow

ONNX_SERVED = {"models": "lstm", "n_folds": 1}
"""The tiny run of one LSTM on one fold: the served version is its ONNX export."""


@pytest.fixture(scope="module")
def onnx_tracked(
    tracked: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Registry, EnsembleRegistry]]:
    """An LSTM BTC champion and a stacked (lstm + logistic) XRP champion in a store of their own.

    MLflow's global URIs are set back to the session store after (in-process servers use them).
    """
    home = tmp_path_factory.mktemp("onnx-serving")
    try:
        single = train_champion(home, make_settings(home), **ONNX_SERVED)
        yield single, register_stacked(home, "lstm,logistic,stacked")
    finally:
        mlflow.set_tracking_uri(make_settings(tracked.home).resolved_tracking_uri)
        mlflow.set_registry_uri(make_settings(tracked.home).resolved_tracking_uri)


_SERVER = """
import json, os, signal, sys
import uvicorn

def dump(*_):
    with open(os.environ["MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)

# uvicorn shuts down on SIGTERM, then re-raises it to the handler it found: this one.
signal.signal(signal.SIGTERM, dump)
uvicorn.run("mlpkg.serving.app:create_app", factory=True, host="127.0.0.1",
            port=int(os.environ["PORT"]), log_level="warning")
"""
HEAVY = ("tensorflow", "keras", "tf2onnx", "sklearn", "matplotlib")


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 120.0) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    poll_until(healthy, timeout=timeout, what=f"{url} to be healthy", every=0.1)


@contextmanager
def _serving(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """Run the server script as a subprocess; yield its base URL; stop it with SIGTERM."""
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", _SERVER], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        _wait_healthy(proc, f"{base}/api/health")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


def _env(home: Path, tmp_path: Path, pairs: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORT": str(free_port()),
        "MODULES_OUT": str(tmp_path / "modules.json"),
        "MLPKG_HOME": str(home),
        "MLPKG_MLRUNS_DIR": str(home / "mlruns"),
        "MLPKG_STORAGE_PATH": str(tmp_path / "predictions.db"),
        "MLPKG_PAIRS": pairs,
        "MLPKG_MODEL_POLL_S": "0",
        "MLPKG_PREDICTION_CACHE_S": "0",
        "MLPKG_LOG_LEVEL": "WARNING",
    }


def _register_without_onnx(source_home: Path, home: Path, tmp_path: Path) -> None:
    """Register a copy of BTC's version 1 without its ONNX file (a pre-ONNX bundle) in ``home``.

    A store of its own, written through an explicit client: MLflow's global URI (shared by the
    in-process servers of this session) is never touched.
    """
    source = tmp_path / "pre-onnx"
    uri = make_settings(source_home).resolved_tracking_uri
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{registry.model_name('BTC')}/1",
        dst_path=str(source),
        tracking_uri=uri,
        registry_uri=uri,
    )
    for onnx in source.rglob(ONNX_FILE):
        onnx.unlink()
    meta = source / "artifacts" / "bundle" / "meta.json"
    content = json.loads(meta.read_text())
    content.pop("runtimes", None)
    meta.write_text(json.dumps(content))
    (home / "mlruns").mkdir(parents=True)
    uri = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = registry.model_name("BTC")
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(source), run_id=None).version
    client.set_registered_model_alias(name, registry.CHAMPION, version)


def test_a_version_registered_before_onnx_is_served_by_keras(onnx_tracked, tmp_path):
    """In process (the app with its lifespan): what runtime serves it is the behaviour here, and
    this process has Keras already (the first test's dump shows lazily loaded modules are seen)."""
    home = tmp_path / "home"
    _register_without_onnx(onnx_tracked[0].home, home, tmp_path)
    settings = make_settings(home, pairs=["BTC"], prediction_cache_s=0)
    with run_server(settings) as running:
        loaded = running.client.get("/api/models/BTC/status").json()["loaded"]
        assert loaded["loaded"] is True, loaded
        assert loaded["runtime"] == "keras"
        assert loaded["members"]["lstm"]["runtime"] == "keras"
        body = running.client.get("/api/predictions/BTC").json()["prediction"]
        assert body["metadata"]["runtime"] == "keras"
        assert 0.0 < body["prediction"] < 1.0


NEURAL_HEAVY = (*HEAVY, "lightgbm")


def test_served_onnx_versions_and_a_neural_retrain_never_import_tensorflow(onnx_tracked, tmp_path):
    """One server process: the ONNX versions answer, then a manual LSTM job (1 epoch, a few
    hundred rows) trains in ``mlpkg.pipelines.job`` and its version is served; what the server
    imported is read when it stops."""
    single, ensemble = onnx_tracked  # an LSTM BTC champion and a stacked XRP one
    xrp = ensemble.pair
    with _serving(_env(single.home, tmp_path, f"BTC,{xrp},EOS"), tmp_path) as base:
        for query in ("BTC", xrp, f"{xrp}?model=lstm", f"{xrp}?ensemble=false"):
            response = httpx.get(f"{base}/api/predictions/{query}", timeout=30)
            assert response.status_code == 200, response.text
        models = httpx.get(f"{base}/api/health", timeout=30).json()["models"]
        assert models["BTC"]["runtime"] == "onnxruntime"
        assert models[xrp]["runtime"] == "onnxruntime+numpy"
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 200

        body = tiny_params(models="lstm", n_folds=1, max_rows=900)  # 1 epoch, 4 units
        accepted = httpx.post(f"{base}/api/train/EOS", json=body, timeout=30).json()
        job_url = f"{base}/api/train/jobs/{accepted['jobId']}"

        def finished() -> dict | None:
            assert httpx.get(f"{base}/api/health", timeout=30).status_code == 200  # answers on
            job = httpx.get(job_url, timeout=30).json()
            return job if job["status"] not in ("queued", "running") else None

        job = poll_until(finished, timeout=600, what="the EOS job", every=0.5)
        assert job["status"] == "succeeded", job["error"]
        assert job["stage"] == "final fit on every labelled row"
        loaded = poll_until(
            lambda: (
                (m := httpx.get(f"{base}/api/health", timeout=30).json()["models"]["EOS"])["loaded"]
                and m
            ),
            timeout=120,
            what="EOS to be served",
        )
        assert loaded["version"] == job["modelVersion"] and loaded["runtime"] == "onnxruntime"
        assert httpx.get(f"{base}/api/predictions/EOS", timeout=30).status_code == 200
    modules = set(json.loads((tmp_path / "modules.json").read_text()))
    assert "onnxruntime" in modules  # it did serve through ONNX Runtime
    loaded_heavy = sorted(m for m in modules if m.split(".")[0] in NEURAL_HEAVY)
    assert loaded_heavy == [], (tmp_path / "server.log").read_text()[-2000:]
    assert "mlpkg.pipelines.train" not in modules and "mlpkg.pipelines.job" not in modules
