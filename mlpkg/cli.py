"""Command line: ``mlpkg train | evaluate | predict | promote | batch | serve``."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlpkg.config import RunConfig, get_settings
from mlpkg.errors import MlpkgError

log = logging.getLogger("mlpkg")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add one ``--<field>`` option per flattened RunConfig field (defaults stay in code)."""
    defaults = RunConfig().to_flat()
    for name, default in defaults.items():
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, default=None, help=f"default: {shown}"
        )


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


def _progress(message: str) -> None:
    log.info(message)


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate, register (and maybe promote) one pair."""
    from mlpkg.pipelines.train import train_pair

    config = _run_config(args)
    started = time.perf_counter()
    result = train_pair(config, progress=_progress)
    sys.stdout.write(result.text + "\n")
    outcome = "champion" if result.decision.promote else "candidate only (not promoted)"
    sys.stdout.write(
        f"\nRegistered mlpkg-{config.pair} version {result.version} ({result.bundle.candidate}) "
        f"as {outcome}; run {result.run_id}.\n{result.decision.reason}.\n"
        f"Wall time {time.perf_counter() - started:.1f} s.\n"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Development-fold evaluation only (never touches the holdout)."""
    from mlpkg.pipelines.evaluate import evaluate_pair

    development, run_id = evaluate_pair(_run_config(args), progress=_progress)
    sys.stdout.write(
        development.text + f"\nLogged as MLflow run {run_id} (the holdout was not scored).\n"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the latest shipped/source candle with the pair's registered model."""
    from mlpkg.data.sources import load_candles
    from mlpkg.pipelines.predict import score_latest
    from mlpkg.tracking import registry
    from mlpkg.tracking.runs import configure_tracking

    settings = get_settings()
    pair = settings.check_pair(args.pair)
    configure_tracking(settings)
    wanted = args.alias or settings.serve_alias
    fallback = registry.CANDIDATE if args.alias is None else None
    alias, _ = registry.resolve_alias(pair, wanted, fallback)
    if alias != wanted:
        log.warning("%s has no %s yet; predicting with the %s", pair, wanted, alias)
    with tempfile.TemporaryDirectory() as tmp:
        bundle, info = registry.load_model(pair, alias, Path(tmp))
    candles = load_candles(pair, settings.data_source, settings)
    pred = score_latest(
        bundle, candles, strong=settings.signal_strong, normal=settings.signal_normal,
        promoted=registry.is_promoted(info),
    )  # fmt: skip
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
    pair = get_settings().check_pair(args.pair)
    known = {v.version for v in registry.list_versions(pair)}
    if args.version not in known:
        raise MlpkgError(f"mlpkg-{pair} has no version {args.version}; known: {sorted(known)}.")
    from mlpkg.evaluation.promotion import manual_decision

    registry.promote(pair, args.version, manual=manual_decision(args.version))
    sys.stdout.write(f"mlpkg-{pair} version {args.version} is now champion.\n")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the train and evaluate notebooks per pair with papermill."""
    from mlpkg.pipelines.batch import run_batch

    summary = run_batch(args.pairs, extra_params=_run_config_overrides(args))
    sys.stdout.write(summary.text + "\n")
    return 0 if summary.ok else 1


def _run_config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    config = _run_config(args)
    explicit = {n for n in RunConfig().to_flat() if getattr(args, n, None) is not None}
    return {k: v for k, v in config.to_flat().items() if k in explicit and k != "pair"}


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "mlpkg.serving.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mlpkg`` command."""
    parser = argparse.ArgumentParser(prog="mlpkg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("train", cmd_train, "train + evaluate + register a pair"),
        ("evaluate", cmd_evaluate, "walk-forward evaluation only"),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_run_options(p)
        p.set_defaults(func=func)
    p = sub.add_parser("predict", help="predict the latest candle with the registered model")
    p.add_argument("--pair", default=get_settings().default_pair)
    p.add_argument("--alias", choices=["champion", "candidate"], default=None)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("promote", help="make a registered version the champion")
    p.add_argument("--pair", required=True)
    p.add_argument("--version", required=True)
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("batch", help="papermill the train/evaluate notebooks for several pairs")
    _add_run_options(p)
    p.add_argument("--pairs", nargs="+", required=True)
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("serve", help="serve the HTTP API (port 3001)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn MlpkgError into a clear one-line message."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except MlpkgError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
