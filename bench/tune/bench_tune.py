"""Benchmark: hyperparameter search on Ray Tune on this machine, and what Ray + Optuna cost.

1. Scaling: the same 8-trial LightGBM tune of BTC (default run config, 4 folds, no pruning, so
   both runs do identical work: the 8 TPE start-up trials are the same seeded draws) with 1 and
   with 2 concurrent trials. Efficiency = T1 / (2 x T2); goal >= 0.8.
2. Overhead per trial: the marginal wall time of one more empty trial (OptunaSearch on the
   SQLite study storage, ASHA, actor reuse, one CPU; 4 reports per trial like 4 folds), and the
   same for a near-empty mlpkg trial (logistic on 1,500 candles: dataset, 3 tiny fits, the
   MLflow child run). Goal <= 1.5 s.
3. Install: what ray[tune] + optuna add to the project's venv (the distributions only they
   need), and the time pip takes to install them into a scratch venv from downloaded wheels.
4. A paper projection for 5 pairs x 6 families x 50 trials x 4 folds on N nodes.

Usage: ``python bench/tune/bench_tune.py [--skip-install] [--skip-scaling]``. Ray runs embedded
(2 CPUs); every store is a throw-away folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import describe_machine

ROOT = Path(__file__).resolve().parents[2]
LSTM_FOLD_S = 37.0
"""LSTM fit per fold at the default size (docs/benchmarks.md, training benchmark: 31-42 s)."""


def _tune(home: Path, family: str, trials: int, concurrency: int, **flat) -> tuple[float, float]:
    """Run a tune without pruning; return its wall time and its mean in-trial time."""
    from mlpkg.config import RunConfig, Settings
    from mlpkg.pipelines.tune import TuneRequest, run_tune

    config = RunConfig.from_flat(pair="BTC", **flat)
    request = TuneRequest(config, family, trials=trials, concurrency=concurrency, prune=False)
    settings = Settings(home=home)
    started = time.perf_counter()
    result = run_tune(request, settings, progress=lambda _: None)
    return time.perf_counter() - started, _trial_seconds(settings, result.study)


def _trial_seconds(settings, study: str) -> float:
    """Mean in-trial time (Optuna start to complete) of a tune's trials."""
    import optuna

    from mlpkg.pipelines import studies

    storage = studies.open_storage(settings.resolved_study_storage)
    trials = optuna.load_study(study_name=study, storage=storage).trials
    spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    return sum(spans) / len(spans)


def scaling(repeats: int) -> dict[str, float]:
    """The same 8-trial LightGBM tune at concurrency 1 and 2 (alternated; best of repeats)."""
    out: dict[str, float] = {}
    for _ in range(repeats):
        for concurrency in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, trial_s = _tune(Path(tmp), "lightgbm", 8, concurrency)
            print(
                f"  8 LightGBM trials, concurrency {concurrency}: {seconds:.1f} s "
                f"(mean trial {trial_s:.1f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            if seconds < out.get(f"T{concurrency}", float("inf")):
                out[f"T{concurrency}"], out[f"trial_s_{concurrency}"] = seconds, trial_s
    out["efficiency"] = out["T1"] / (2 * out["T2"])
    return out


def _empty(config):
    from ray import tune

    for fold in range(4):
        tune.report({"log_loss": 0.69 + config["x"] / 100, "folds": fold + 1})


def _empty_tune(trials: int, storage_url: str, name: str) -> float:
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from mlpkg.pipelines.studies import open_storage

    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    search = OptunaSearch(
        space, metric="log_loss", mode="min", storage=open_storage(storage_url), study_name=name
    )
    scheduler = ASHAScheduler(
        metric="log_loss", mode="min", max_t=4, grace_period=1, reduction_factor=2
    )
    tuner = tune.Tuner(
        tune.with_resources(_empty, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=search,
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=1,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=str(Path(storage_url[10:]).parent), verbose=0
        ),
    )
    started = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - started


def overhead() -> dict[str, float]:
    """Marginal wall time of one more empty trial, and of one more near-empty mlpkg trial."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/optuna.db"
        few, many = _empty_tune(4, url, "few"), _empty_tune(44, url, "many")
    out["empty_few"], out["empty_many"] = few, many
    out["empty_per_trial"] = (many - few) / 40
    print(
        f"  empty trials: 4 in {few:.1f} s, 44 in {many:.1f} s -> "
        f"{out['empty_per_trial']:.2f} s per trial",
        flush=True,
    )
    tiny = {"max_rows": 1500, "n_folds": 3}
    with tempfile.TemporaryDirectory() as tmp:
        few, _ = _tune(Path(tmp) / "a", "logistic", 4, 1, **tiny)
        many, out["mlpkg_trial_s"] = _tune(Path(tmp) / "b", "logistic", 24, 1, **tiny)
    out["mlpkg_few"], out["mlpkg_many"] = few, many
    out["mlpkg_per_trial"] = (many - few) / 20
    print(
        f"  near-empty mlpkg trials: 4 in {few:.1f} s, 24 in {many:.1f} s -> "
        f"{out['mlpkg_per_trial']:.2f} s per trial (in-trial {out['mlpkg_trial_s']:.2f} s)",
        flush=True,
    )
    return out


def _closure(requirements) -> dict[str, str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, str] = {}
    todo = [(Requirement(r), ()) for r in requirements]
    done: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        requirement, _ = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, tuple(sorted(requirement.extras)))
        if key in done:
            continue
        done.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist.version
        for text in dist.requires or []:
            child = Requirement(text)
            extras = ["", *requirement.extras]
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                todo.append((child, ()))
    return seen


def install() -> dict[str, float]:
    """Size of the distributions only ray[tune]/optuna need; pip install time of their wheels."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ours = [d for d in deps if d.split("==")[0].split("[")[0] in ("ray", "optuna")]
    rest = [d for d in deps if d not in ours]
    others = _closure(rest)
    extra = {n: v for n, v in _closure(ours).items() if n not in others}
    size = 0
    for name in extra:
        for file in metadata.distribution(name).files or []:
            path = file.locate()
            size += path.stat().st_size if path.is_file() else 0
    out = {"size_mib": size / 2**20, "packages": float(len(extra))}
    print(
        f"  ray[tune] + optuna add {len(extra)} distributions, {out['size_mib']:.0f} MiB: "
        + ", ".join(f"{n}=={v}" for n, v in sorted(extra.items())),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        pins = [f"{n}=={v}" for n, v in extra.items()]
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        started = time.perf_counter()
        fetched = subprocess.run(
            [*pip, "download", "--no-deps", "-d", f"{tmp}/wheels", *pins],
            capture_output=True,
            text=True,
            check=False,
        )
        out["download_s"] = time.perf_counter() - started
        if fetched.returncode != 0:
            print(f"  (download failed, install time not measured: {fetched.stderr[-300:]})")
            return out
        subprocess.run([sys.executable, "-m", "venv", f"{tmp}/venv"], check=True)
        started = time.perf_counter()
        venv_pip = [f"{tmp}/venv/bin/python", "-m", "pip", "-q", "install", "--no-deps"]
        subprocess.run(
            [*venv_pip, "--no-index", "--find-links", f"{tmp}/wheels", *pins], check=True
        )
        out["install_s"] = time.perf_counter() - started
    print(
        f"  download {out['download_s']:.1f} s, pip install from the wheels "
        f"{out['install_s']:.1f} s",
        flush=True,
    )
    return out


def projection(fold_s: dict[str, float], per_trial: float, efficiency: float) -> list[str]:
    """Wall time of 5 pairs x 6 families x 50 trials x 4 folds on N nodes (paper)."""
    pairs, trials, folds = 5, 50, 4
    pruned_folds = 1 + 0.5 * 1 + 0.25 * 2  # ASHA rf 2, grace 1: rungs at folds 1 and 2
    lines = ["| cluster | CPUs | no pruning | with ASHA (~2 folds/trial) |", "|---|---|---|---|"]
    work = {
        label: sum(pairs * trials * (f * fold_s[fam] + per_trial) for fam in fold_s)
        for label, f in (("full", folds), ("pruned", pruned_folds))
    }
    for nodes, cores in ((1, 2), (1, 16), (4, 16), (16, 16)):
        cpus = nodes * cores
        eff = efficiency if cpus > 1 else 1.0
        row = [f"{work[k] / (cpus * eff) / 3600:.1f} h" for k in ("full", "pruned")]
        label = "this machine" if cores == 2 else f"{nodes} x {cores}-core node(s)"
        lines.append(f"| {label} | {cpus} | {row[0]} | {row[1]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="scaling runs (best is kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(describe_machine(), flush=True)
    from mlpkg.pipelines.cluster import ray_session

    started = time.perf_counter()
    with ray_session(num_cpus=2):
        print(f"  ray.init(num_cpus=2): {time.perf_counter() - started:.1f} s", flush=True)
        scale = (
            {"efficiency": 1.0, "trial_s_1": 12.0} if args.skip_scaling else scaling(args.repeats)
        )
        # --skip-overhead: the figures recorded in bench/tune/README.md (2026-12-01)
        cost = {"empty_per_trial": 0.18, "mlpkg_per_trial": 0.78, "mlpkg_trial_s": 1.0}
        if not args.skip_overhead:
            cost = overhead()
    if not args.skip_install:
        install()
    per_fold = scale["trial_s_1"] / 4
    fold_s = {
        "lstm": LSTM_FOLD_S,
        "gru": LSTM_FOLD_S,
        "cnn": LSTM_FOLD_S,
        "transformer": LSTM_FOLD_S,
        "lightgbm": per_fold,
        "logistic": cost["mlpkg_trial_s"] / 3,
    }
    print(
        f"efficiency T1/(2 x T2) = {scale['efficiency']:.2f} (goal >= 0.8); overhead per "
        f"empty trial {cost['empty_per_trial']:.2f} s, per near-empty mlpkg trial "
        f"{cost['mlpkg_per_trial']:.2f} s (goal <= 1.5 s)"
    )
    print("\n".join(projection(fold_s, cost["mlpkg_per_trial"], scale["efficiency"])))


if __name__ == "__main__":
    main()
