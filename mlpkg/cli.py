"""Command line: ``mlpkg train | evaluate | tune | predict | promote | batch | serve``."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlpkg.config import (
    DEFAULT_HORIZON,
    DEFAULT_INTERVAL,
    INTERVALS,
    RunConfig,
    get_settings,
    model_key,
)
from mlpkg.console import CliProgress, configure_logging, import_tensorflow_quietly
from mlpkg.errors import MlpkgError

log = logging.getLogger("mlpkg")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add one ``--<field>`` option per flattened RunConfig field (defaults stay in code)."""
    defaults = RunConfig().to_flat()
    for name, default in defaults.items():
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        # A yes/no field reads as a flag (``--pooled``) or takes a value (``--pooled false``).
        flag: dict[str, Any] = {"nargs": "?", "const": "true"} if isinstance(default, bool) else {}
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, default=None, help=f"default: {shown}", **flag
        )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--interval`` and ``--horizon``: which of the pair's models (``mlpkg-BTC-4h-h6``)."""
    parser.add_argument("--interval", choices=list(INTERVALS), default=DEFAULT_INTERVAL)
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON)


def _run_config(args: argparse.Namespace) -> RunConfig:
    defaults = RunConfig().to_flat()
    params: dict[str, Any] = {}
    for name, default in defaults.items():
        value = getattr(args, name)
        if value is None:
            continue
        params[name] = (
            tuple(v for v in value.split(",") if v) if isinstance(default, tuple) else value
        )
    return RunConfig.from_flat(**params)


def _fold_progress(config: RunConfig, what: str) -> CliProgress:
    """A bar over the development fits of ``config`` (plain lines when not on a terminal)."""
    from mlpkg.models.families import is_neural
    from mlpkg.pipelines.evaluate import expected_fits

    if any(is_neural(family) for family in config.families):
        import_tensorflow_quietly()
    return CliProgress(expected_fits(config), f"{config.pair} {what}")


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate, register (and maybe promote) one pair."""
    from mlpkg.pipelines.pooled import train_pooled
    from mlpkg.pipelines.train import train_pair

    config = _run_config(args)
    if getattr(args, "params_from", None):
        config = _with_tuned_params(config, args)
    started = time.perf_counter()
    train = train_pooled if config.pool.pooled else train_pair
    with _fold_progress(config, "development folds") as progress:
        result = train(config, progress=progress)
    if getattr(args, "params_from", None):
        _tag_params_from(result.run_id, args.params_from)
    sys.stdout.write(result.text + "\n")
    outcome = "champion" if result.decision.promote else "candidate only (not promoted)"
    sys.stdout.write(
        f"\nRegistered mlpkg-{config.model_key} version {result.version} "
        f"({result.bundle.candidate}) "
        f"as {outcome}; run {result.run_id}.\n{result.decision.reason}.\n"
        f"Wall time {time.perf_counter() - started:.1f} s.\n"
    )
    return 0


def _explicit_options(args: argparse.Namespace) -> set[str]:
    return {n for n in RunConfig().to_flat() if getattr(args, n, None) is not None}


def _with_tuned_params(config: RunConfig, args: argparse.Namespace) -> RunConfig:
    """Merge the best trial of ``--params-from`` (a tune's parent run) over the options."""
    from mlpkg.pipelines.ledger import check_tuned_rows
    from mlpkg.pipelines.tune import apply_tuned_params, tuned_params

    best = tuned_params(args.params_from)
    merged = apply_tuned_params(config, best, _explicit_options(args))
    check_tuned_rows(best, merged)
    log.info(
        "using trial %s of study %s (dev log loss %.5f): %s",
        best.get("number"),
        best.get("study"),
        best.get("log_loss", float("nan")),
        ", ".join(f"{k}={v}" for k, v in best["params"].items()),
    )
    return merged


def _tag_params_from(run_id: str, tune_run_id: str) -> None:
    from mlpkg.tracking.runs import configure_tracking, set_run_tag

    configure_tracking()
    set_run_tag(run_id, "params_from", tune_run_id)


def cmd_tune(args: argparse.Namespace) -> int:
    """Search a family's hyperparameters with Optuna on Ray Tune (development folds only)."""
    from mlpkg.pipelines.tune import TuneRequest, run_tune

    explicit = _explicit_options(args)
    if args.resume and explicit - {"pair"}:
        raise MlpkgError(
            "--resume continues a study with the run config it started with; drop "
            + ", ".join(f"--{n.replace('_', '-')}" for n in sorted(explicit - {"pair"}))
            + " (or start a new study without --resume)."
        )
    request = TuneRequest(
        config=_run_config(args),
        family=args.family,
        trials=args.trials,
        concurrency=args.concurrency,
        cpus_per_trial=args.cpus_per_trial,
        address=args.address,
        resume=args.resume,
        study=args.study,
        prune=not args.no_prune,
        grace_folds=args.grace_folds,
        max_failures=args.max_failures,
    )
    with CliProgress(None, f"{request.config.pair} trials", kinds=("trial",)) as progress:
        result = run_tune(request, progress=progress)
    sys.stdout.write(result.text + "\n")
    return 0


def _add_tune_options(p: argparse.ArgumentParser) -> None:
    from mlpkg.config import FAMILIES

    p.add_argument("--family", choices=FAMILIES, default=None, help="model family to tune")
    p.add_argument("--trials", type=int, default=None, help="finished trials wanted (default 20)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="trials at once (default: the cluster's CPUs / --cpus-per-trial)",
    )
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs per trial (default 1)")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join (default RAY_ADDRESS, else Ray on this machine)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue --study (or the latest study of --pair/--family)",
    )
    p.add_argument("--study", default=None, help="study name (default <pair>-<family>-<time>)")
    p.add_argument("--no-prune", action="store_true", help="run every trial to its last fold")
    p.add_argument("--grace-folds", type=int, default=1, help="folds before a trial may be pruned")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Development-fold evaluation only (never touches the holdout)."""
    from mlpkg.pipelines.evaluate import evaluate_pair
    from mlpkg.pipelines.pooled import evaluate_pooled

    config = _run_config(args)
    evaluate = evaluate_pooled if config.pool.pooled else evaluate_pair
    with _fold_progress(config, "development folds") as progress:
        development, run_id = evaluate(config, progress=progress)
    sys.stdout.write(
        development.text + f"\nLogged as MLflow run {run_id} (the holdout was not scored).\n"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the latest shipped/source candle with the pair's registered model."""
    from mlpkg.data.resample import reference_candles, session_candles
    from mlpkg.data.sources import load_candles
    from mlpkg.features.cross_asset import reference_pairs
    from mlpkg.models.inference import score_latest
    from mlpkg.models.signals import POLICY_META, SignalPolicy, signal_thresholds
    from mlpkg.tracking import registry
    from mlpkg.tracking.runs import configure_tracking

    settings = get_settings()
    source_pair = settings.check_pair(args.pair)
    pair = model_key(source_pair, args.interval, args.horizon)
    configure_tracking(settings)
    wanted = args.alias or settings.serve_alias
    fallback = registry.CANDIDATE if args.alias is None else None
    alias, _ = registry.resolve_alias(pair, wanted, fallback)
    if alias != wanted:
        log.warning("%s has no %s yet; predicting with the %s", pair, wanted, alias)
    with tempfile.TemporaryDirectory() as tmp:
        bundle, info = registry.load_model(pair, alias, Path(tmp))
    candles = load_candles(source_pair, settings.data_source, settings)
    features = bundle.run_config.features
    candles = session_candles(candles, features, origin=source_pair)
    references = {
        other: reference_candles(
            load_candles(other, settings.data_source, settings), features, origin=other
        )
        for other in reference_pairs(features)
    }
    policy = bundle.extra.get(POLICY_META)
    strong, normal = signal_thresholds(
        SignalPolicy.from_dict(policy) if policy else None,
        strong=settings.signal_strong,
        normal=settings.signal_normal,
        overridden=settings.signals_overridden,
    )
    pred = score_latest(
        bundle,
        candles,
        strong=strong,
        normal=normal,
        promoted=registry.is_promoted(info),
        references=references,
    )
    sys.stdout.write(
        f"{pair} ({alias}, version {info.version}): P(up in {pred.horizon} candles after "
        f"{pred.candle_time:%Y-%m-%d %H:%M} UTC) = {pred.probability:.4f} -> {pred.direction}, "
        f"confidence {pred.confidence:.3f}, signal {pred.signal}"
        + ("" if registry.is_promoted(info) else " (no trade signal: not promoted)")
        + "\n"
    )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Point a pair's champion alias at a version by hand."""
    from mlpkg.tracking import registry
    from mlpkg.tracking.runs import configure_tracking

    configure_tracking()
    pair = model_key(get_settings().check_pair(args.pair), args.interval, args.horizon)
    known = {v.version for v in registry.list_versions(pair)}
    if args.version not in known:
        raise MlpkgError(f"mlpkg-{pair} has no version {args.version}; known: {sorted(known)}.")
    from mlpkg.evaluation.promotion import manual_decision

    registry.promote(pair, args.version, manual=manual_decision(args.version))
    sys.stdout.write(f"mlpkg-{pair} version {args.version} is now champion.\n")
    return 0


def cmd_holdout(args: argparse.Namespace) -> int:
    """Show a pair's holdout ledger, or move its holdout (``--start`` / ``--roll``)."""
    from mlpkg.pipelines.ledger import move_holdout
    from mlpkg.tracking.ledger import read_ledger

    pair = get_settings().check_pair(args.pair)
    if args.start or args.roll:
        move_holdout(pair, start=args.start or "", roll=args.roll, note=args.note)
    ledger = read_ledger(pair)
    if not ledger.entries:
        sys.stdout.write(f"{pair}: no holdout recorded yet (the first `mlpkg train` records it)\n")
    for entry in ledger.entries:
        current = " (current)" if entry is ledger.current else ""
        sys.stdout.write(
            f"{pair} holdout {entry.number}{current}: starts {entry.start} ({entry.how}, "
            f"recorded {entry.at}{'; ' + entry.note if entry.note else ''})\n"
        )
    if ledger.seen_until is not None:
        sys.stdout.write(f"decisions have read candles up to {ledger.seen_until}\n")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the train and evaluate notebooks per pair with papermill."""
    from mlpkg.pipelines.batch import run_batch

    total = len(args.pairs) * 2  # the train and evaluate notebooks of each pair
    with CliProgress(total, "batch", kinds=("notebook",)) as progress:
        summary = run_batch(
            args.pairs,
            extra_params=_run_config_overrides(args),
            executor=args.executor,
            address=args.address,
            progress=progress,
        )
    sys.stdout.write(summary.text + "\n")
    return 0 if summary.ok else 1


def _run_config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    config = _run_config(args)
    explicit = {n for n in RunConfig().to_flat() if getattr(args, n, None) is not None}
    return {k: v for k, v in config.to_flat().items() if k in explicit and k != "pair"}


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API with uvicorn (``--workers N``: N processes, one leader)."""
    import os

    import uvicorn

    settings = get_settings()
    workers = max(1, int(args.workers))
    folder = None
    if workers > 1:
        from mlpkg.serving.metrics import prepare_multiprocess

        folder = prepare_multiprocess()
        # One replay clock for every worker (time.monotonic is system-wide).
        os.environ.setdefault("MLPKG_REPLAY_WALL0", repr(time.monotonic()))
    try:
        uvicorn.run(
            "mlpkg.serving.app:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
        )
    finally:
        if folder is not None:
            from mlpkg.serving.metrics import remove_multiprocess

            remove_multiprocess(folder)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mlpkg`` command."""
    parser = argparse.ArgumentParser(prog="mlpkg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("train", cmd_train, "train + evaluate + register a pair"),
        ("evaluate", cmd_evaluate, "walk-forward evaluation only"),
        ("tune", cmd_tune, "hyperparameter search (Optuna on Ray Tune, development folds)"),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_run_options(p)
        p.set_defaults(func=func)
        if name == "train":
            p.add_argument(
                "--params-from",
                default=None,
                help="MLflow run id of a tune: use its best trial's params",
            )
        if name == "tune":
            _add_tune_options(p)
    p = sub.add_parser("predict", help="predict the latest candle with the registered model")
    p.add_argument("--pair", default=get_settings().default_pair)
    p.add_argument("--alias", choices=["champion", "candidate"], default=None)
    _add_model_options(p)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("promote", help="make a registered version the champion")
    p.add_argument("--pair", required=True)
    p.add_argument("--version", required=True)
    _add_model_options(p)
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("holdout", help="show or move a pair's holdout (the ledger)")
    p.add_argument("--pair", required=True)
    p.add_argument("--start", default=None, help="move the holdout to start at this UTC time")
    p.add_argument(
        "--roll", action="store_true", help="move it past every candle a decision has read"
    )
    p.add_argument("--note", default="", help="why it moves (recorded in the ledger)")
    p.set_defaults(func=cmd_holdout)
    p = sub.add_parser("batch", help="papermill the train/evaluate notebooks for several pairs")
    _add_run_options(p)
    p.add_argument("--pairs", nargs="+", required=True)
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one pair after another here; ray: pairs as Ray tasks",
    )
    p.add_argument(
        "--address",
        default=None,
        help="with --executor ray: cluster to join (default RAY_ADDRESS, else local)",
    )
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("serve", help="serve the HTTP API (port 3001)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (default 1); one holds the leader lease (live loop, jobs)",
    )
    p.set_defaults(func=cmd_serve)
    return parser


def _mark_orphans() -> None:
    """End the runs a killed mlpkg process left RUNNING on this host (see mark_orphaned_runs)."""
    from mlpkg.tracking.runs import mark_orphaned_runs

    mark_orphaned_runs(get_settings())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn MlpkgError into a clear one-line message."""
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    try:
        if args.func is not cmd_serve:  # the server's leader does it (ServingState.lead)
            _mark_orphans()
        return int(args.func(args))
    except MlpkgError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
