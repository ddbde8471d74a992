"""Benchmark: learning across pairs on the five shipped pairs.

Variants of each family (``--families``), each on every pair's own development folds (with
fold and seed spread) and then refit on its development period and scored on its holdout:

- ``per_pair``: the pair's own rows and features (what ``mlpkg train`` does today);
- ``cross``: the same with the cross-asset features ``BTC,market``;
- ``pooled``: one model fitted on the development rows of all five pairs (own features),
  scored on the pair; ``pooled_ind``: the same with one-hot pair columns;
- ``pooled_ft`` (neural families): ``pooled`` then ``--finetune-epochs`` epochs on the pair.

Cold start (``cold`` units, development period only, no holdout): the pair's last development
fold is scored by a model that saw only the pair's ``--cold-rows`` rows before it
(``cold_own``), by a pooled model of the *other* four pairs' full development history up to the
same cutoff that never saw the pair (``cold_pooled``), and, for the neural families, by that
model fine-tuned on the pair's ``--cold-rows`` rows (``cold_pooled_ft``).

Every (pair, variant) runs in its own worker process with all ``--families`` together (one
dataset, one pool; the peak RSS is that process's) and writes each family's predictions to
``--out`` (a rerun resumes). NOTE: every variant is scored on the
holdout for this research record; ``--summarize`` counts those uses per pair and names the
development pick; the table selects nothing.

Usage::

    python bench/pooled/bench_pooled.py --families logistic lightgbm --out /tmp/pooled
    python bench/pooled/bench_pooled.py --families lstm --param lstm_epochs=3 ... --out /tmp/p
    python bench/pooled/bench_pooled.py --summarize --out /tmp/pooled
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from _machine import describe_machine, peak_rss_mib

from mlpkg.config import NEURAL_FAMILIES, SHIPPED_PAIRS, RunConfig
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.selection import candidate_scores
from mlpkg.evaluation.significance import diebold_mariano
from mlpkg.evaluation.walk_forward import ModelSpec, fit_and_score
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.models.families import make_estimator
from mlpkg.models.pooled import Pool, pooled_class, using_pool
from mlpkg.pipelines.dataset import prepare_dataset
from mlpkg.pipelines.evaluate import development_split, evaluate_development, procedure_for
from mlpkg.pipelines.holdout import score_holdout
from mlpkg.pipelines.pooled import load_pool

VARIANTS: dict[str, dict[str, Any]] = {
    "per_pair": {},
    "cross": {"cross_assets": "BTC,market"},
    "pooled": {"pooled": True},
    "pooled_ind": {"pooled": True, "pair_indicator": True},
    "pooled_ft": {"pooled": True},  # finetune_epochs from --finetune-epochs
}
COLD = ("cold_own", "cold_pooled", "cold_pooled_ft")


def variants_of(family: str) -> list[str]:
    """The variants a family runs (fine-tuning only for the neural families)."""
    names = [v for v in VARIANTS if v != "pooled_ft" or family in NEURAL_FAMILIES]
    return [*names, "cold"]


def _config(pair: str, family: str, variant: str, args: argparse.Namespace) -> RunConfig:
    params: dict[str, Any] = dict(args.params)
    params.update(VARIANTS.get(variant, {}))
    if variant == "pooled_ft":
        params["finetune_epochs"] = args.finetune_epochs
    return RunConfig.from_flat(
        pair=pair, models=family, importance_rows=0, pool_pairs=",".join(args.pairs), **params
    )


def worker(pair: str, families: list[str], variant: str, args: argparse.Namespace) -> None:
    """Development folds + holdout of one variant of ``families`` (one process, one dataset).

    Every family is refit on the development period and scored on the holdout, each once.
    """
    config = _config(pair, ",".join(families), variant, args)
    started = time.perf_counter()
    dataset = prepare_dataset(config)
    pool = load_pool(config) if config.pool.pooled else {}
    with using_pool(pool):
        development = evaluate_development(dataset, config)
        dev_seconds = time.perf_counter() - started
        holdouts = {f: _holdout(development, config, f) for f in families}
    for family in families:
        fits = development.fits[development.fits["model"] == family]
        keep = development.predictions["model"].isin([family, *NAIVE_BASELINES])
        record = {
            "pair": pair,
            "family": family,
            "variant": variant,
            "together_with": families,
            "fit_seconds": [round(float(s), 2) for s in fits["fit_seconds"]],
            "stopping_points": [None if pd.isna(s) else int(s) for s in fits["stopping_point"]],
            "dev_seconds": dev_seconds,
            "total_seconds": time.perf_counter() - started,
            "peak_rss_mib": peak_rss_mib(),
            "features": int(dataset.X.shape[1]),
            "labelled_rows": int(dataset.labelled.sum()),
        }
        stem = args.out / f"{pair}-{family}-{variant}"
        development.predictions[keep].to_csv(f"{stem}-dev.csv", index=False)
        holdouts[family].to_csv(f"{stem}-holdout.csv", index=False)
        Path(f"{stem}.json").write_text(json.dumps(record))


def _holdout(development: Any, config: RunConfig, family: str) -> pd.DataFrame:
    """The family refit on the development period and scored on the holdout once."""
    procedure = procedure_for(family, config, development.predictions, development.fits)
    return score_holdout(replace(development, procedure=procedure), config)


def cold_worker(pair: str, families: list[str], args: argparse.Namespace) -> None:
    """The cold start of each family (one process)."""
    for family in families:
        cold_family(pair, family, args)


def cold_family(pair: str, family: str, args: argparse.Namespace) -> None:
    """The cold start on the pair's last development fold (no holdout row is read)."""
    config = _config(pair, family, "per_pair", args)
    dataset = prepare_dataset(config)
    _, folds = development_split(dataset, config)
    fold = folds[-1]
    own = (max(0, fold.train_end - args.cold_rows), fold.train_end)
    scored = (fold.test_start, fold.test_end)
    others = {p: m for p, m in load_pool(config).items() if p != pair}
    pooled_config = config.model_copy(
        update={"pool": config.pool.model_copy(update={"pooled": True})}
    )
    frames, seconds = [], {}
    for name in COLD:
        if name == "cold_pooled_ft" and family not in NEURAL_FAMILIES:
            continue
        epochs = args.finetune_epochs if name == "cold_pooled_ft" else 0
        spec = _cold_spec(family, config, pooled_config, others, name, epochs)
        started = time.perf_counter()
        with using_pool(others):
            result = fit_and_score(spec, config.seed, dataset.X, dataset.y, own, scored, name)
        seconds[name] = time.perf_counter() - started
        rows = result.positions
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "open_time": dataset.X.index[rows],
                    "proba_up": result.p_up,
                    "y_true": dataset.y.to_numpy()[rows],
                }
            )
        )
    stem = args.out / f"{pair}-{family}-cold"
    pd.concat(frames).to_csv(f"{stem}-dev.csv", index=False)
    record = {"pair": pair, "family": family, "variant": "cold", "own_rows": own[1] - own[0]}
    Path(f"{stem}.json").write_text(
        json.dumps({**record, "fit_seconds": seconds, "peak_rss_mib": peak_rss_mib()})
    )


def _cold_spec(
    family: str,
    config: RunConfig,
    pooled_config: RunConfig,
    others: dict[str, Any],
    name: str,
    epochs: int,
) -> ModelSpec:
    if name == "cold_own":
        return ModelSpec(lambda seed: make_estimator(family, config, seed=seed))

    def build(seed: int) -> Any:
        base = make_estimator(family, config, seed=seed)
        estimator = pooled_class(type(base))(**base.get_params(deep=False))
        estimator.pool = Pool(
            config.pair,
            tuple(others.values()),
            tuple(others),
            finetune_epochs=epochs,
            leave_out=True,
        )
        return estimator

    del pooled_config
    return ModelSpec(build)


def _loss(rows: pd.DataFrame) -> float:
    return float(log_losses(rows["y_true"], rows["proba_up"]).mean())


def _dm(a: pd.DataFrame, b: pd.DataFrame, horizon: int) -> tuple[float, float, int]:
    """Gain of a over b in mnat on their common rows, the one-sided DM p (a better), rows."""
    merged = a.merge(b, on="open_time", suffixes=("_a", "_b"))
    la = log_losses(merged["y_true_a"], merged["proba_up_a"])
    lb = log_losses(merged["y_true_b"], merged["proba_up_b"])
    test = diebold_mariano(la, lb, horizon, alternative="less")
    return float((lb.mean() - la.mean()) * 1000), float(test.p_value), len(merged)


def _base_rows(dev: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = dev[(dev["model"] == model) & (dev["seed"] == dev["seed"].min())]
    return rows[["open_time", "proba_up", "y_true"]]


def _unit(out: Path, pair: str, family: str, variant: str) -> dict[str, Any] | None:
    stem = out / f"{pair}-{family}-{variant}"
    if not Path(f"{stem}.json").exists():
        return None
    record = json.loads(Path(f"{stem}.json").read_text())
    dev = pd.read_csv(f"{stem}-dev.csv", parse_dates=["open_time"])
    record["dev"] = dev
    holdout = Path(f"{stem}-holdout.csv")
    if holdout.exists():
        frame = pd.read_csv(holdout, parse_dates=["open_time"])
        record["holdout"] = frame[frame["model"] == family]
        record["naive"] = frame[frame["model"].isin(NAIVE_BASELINES)]
    return record


def _dev_summary(dev: pd.DataFrame, family: str) -> tuple[float, float, float, float]:
    rows = dev[dev["model"] == family]
    score = candidate_scores(dev, [family])[family]
    per_fold = rows.groupby(["seed", "fold"]).apply(_loss).groupby("fold").mean()
    per_seed = rows.groupby("seed").apply(lambda s: s.groupby("fold").apply(_loss).mean())
    seed_std = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan")
    accuracy = float(((rows["proba_up"] > 0.5) == (rows["y_true"] == 1)).mean())
    return score, float(per_fold.std(ddof=1)), seed_std, accuracy


def summarize(args: argparse.Namespace) -> str:
    """The markdown tables of every unit found in ``--out``."""
    lines = [f"Machine: {describe_machine()}", ""]
    lines += [
        "| pair | family | variant | fit s (mean) | peak RSS MiB | dev log loss ± fold / seed std"
        " | dev acc. | dev vs per_pair mnat (DM p) | holdout log loss | holdout acc. |"
        " holdout vs per_pair mnat (DM p) | holdout vs best naive mnat |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    wins: dict[tuple[str, str], list[int]] = {}
    uses: dict[str, int] = {}
    picks: dict[tuple[str, str], tuple[str, float]] = {}
    for pair in args.pairs:
        for family in args.families:
            base = _unit(args.out, pair, family, "per_pair")
            for variant in [v for v in variants_of(family) if v != "cold"]:
                unit = _unit(args.out, pair, family, variant)
                if unit is None:
                    continue
                uses[pair] = uses.get(pair, 0) + 1
                lines.append(_row(unit, base, family, variant, args.horizon, wins, picks))
    lines += [
        "",
        "Wins on development (lower mean dev log loss than per_pair, same family) and "
        "holdout DM verdicts (one-sided p < 0.05 against per_pair), pairs out of "
        f"{len(args.pairs)}:",
        "",
        "| family | variant | dev wins | holdout wins (lower log loss) | holdout DM p < 0.05 |",
        "|---|---|---:|---:|---:|",
    ]
    for (family, variant), counts in sorted(wins.items()):
        lines.append(f"| {family} | {variant} | {counts[0]} | {counts[1]} | {counts[2]} |")
    lines += [
        "",
        "Development pick per (pair, family) among the variants: "
        + "; ".join(f"{p} {f}: {v}" for (p, f), (v, _) in sorted(picks.items())),
        "",
        "Holdout uses per pair (every variant scored once): "
        + ", ".join(f"{p} {n}" for p, n in uses.items()),
    ]
    lines += ["", *_cold_table(args)]
    return "\n".join(lines)


def _row(
    unit: dict[str, Any],
    base: dict[str, Any] | None,
    family: str,
    variant: str,
    horizon: int,
    wins: dict[tuple[str, str], list[int]],
    picks: dict[tuple[str, str], tuple[str, float]],
) -> str:
    dev, pair = unit["dev"], unit["pair"]
    score, fold_std, seed_std, accuracy = _dev_summary(dev, family)
    key = (pair, family)
    if key not in picks or score < picks[key][1]:
        picks[key] = (variant, score)
    held = unit["holdout"]
    naive = unit["naive"]
    best_naive = min(_loss(naive[naive["model"] == n]) for n in NAIVE_BASELINES)
    vs_dev = vs_hold = ""
    if base is not None and variant != "per_pair":
        base_score = _dev_summary(base["dev"], family)[0]
        gain, p, _ = _dm(_base_rows(dev, family), _base_rows(base["dev"], family), horizon)
        vs_dev = f"{gain:+.1f} ({p:.3f})"
        hgain, hp, _ = _dm(held, base["holdout"], horizon)
        vs_hold = f"{hgain:+.1f} ({hp:.3f})"
        counts = wins.setdefault((family, variant), [0, 0, 0])
        counts[0] += score < base_score
        counts[1] += hgain > 0
        counts[2] += hp < 0.05
    fit = np.mean(unit["fit_seconds"]) if unit["fit_seconds"] else float("nan")
    held_accuracy = float(((held["proba_up"] > 0.5) == (held["y_true"] == 1)).mean())
    return (
        f"| {pair} | {family} | {variant} | {fit:.1f} | {unit['peak_rss_mib']:.0f} | "
        f"{score:.4f} ± {fold_std:.4f} / {seed_std:.4f} | {accuracy:.3f} | {vs_dev} | "
        f"{_loss(held):.4f} | {held_accuracy:.3f} | {vs_hold} | "
        f"{(best_naive - _loss(held)) * 1000:+.1f} |"
    )


def _cold_table(args: argparse.Namespace) -> list[str]:
    lines = [
        "Cold start (last development fold; own = the pair's last rows before it only):",
        "",
        "| pair | family | own rows | cold_own log loss | cold_pooled (vs own mnat, DM p) |"
        " cold_pooled_ft (vs own mnat, DM p) | fit s own / pooled / ft |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for pair in args.pairs:
        for family in args.families:
            unit = _unit(args.out, pair, family, "cold")
            if unit is None:
                continue
            dev = unit["dev"]
            own = dev[dev["model"] == "cold_own"]
            cells = []
            for name in COLD[1:]:
                rows = dev[dev["model"] == name]
                if rows.empty:
                    cells.append("")
                    continue
                gain, p, _ = _dm(rows, own, args.horizon)
                cells.append(f"{_loss(rows):.4f} ({gain:+.1f}, {p:.3f})")
            secs = " / ".join(f"{s:.0f}" for s in unit["fit_seconds"].values())
            lines.append(
                f"| {pair} | {family} | {unit['own_rows']} | {_loss(own):.4f} | {cells[0]} | "
                f"{cells[1]} | {secs} |"
            )
    return lines


def main() -> None:
    """Run the missing units in worker processes, or summarise them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", nargs="+", default=list(SHIPPED_PAIRS))
    parser.add_argument("--families", nargs="+", default=["logistic", "lightgbm"])
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE run parameter")
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--cold-rows", type=int, default=1440, help="own rows (60 days hourly)")
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summarize", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("PAIR", "FAMILY", "VARIANT"))
    args = parser.parse_args()
    args.params = dict(item.split("=", 1) for item in args.param)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        text = summarize(args)
        (args.out / "summary.md").write_text(text + "\n")
        sys.stdout.write(text + "\n")
        return
    if args.worker:
        pair, _, variant = args.worker
        families = [f for f in args.families if variant in variants_of(f)]
        if variant == "cold":
            cold_worker(pair, families, args)
        else:
            worker(pair, families, variant, args)
        return
    variants = args.variants or list(
        dict.fromkeys(v for f in args.families for v in variants_of(f))
    )
    for pair in args.pairs:  # pair by pair: a stopped run leaves whole pairs
        for variant in variants:
            wanted = [f for f in args.families if variant in variants_of(f)]
            if all((args.out / f"{pair}-{f}-{variant}.json").exists() for f in wanted):
                continue
            started = time.perf_counter()
            command = [sys.executable, __file__, *sys.argv[1:], "--worker", pair, "all", variant]
            done = subprocess.run(command, check=False)
            sys.stdout.write(
                f"{pair} {variant}: exit {done.returncode}, {time.perf_counter() - started:.0f} s\n"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
