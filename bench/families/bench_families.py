"""Benchmark: every family and both ensembles on the shipped BTC, ETH and LTC, full size.

For each pair and family a worker process (so its peak RSS is its own) runs the development
folds of that family beside the references, then refits it on the development period and scores
the holdout, exactly as ``mlpkg train`` would if the family were selected. The ensembles are
computed from their members' saved predictions (their refits are the members' refits), with the
same protocol as ``mlpkg.evaluation.selection``.

NOTE: for this research record every candidate is scored on the same holdout (8 uses per pair).
The table is not used to select anything; ``mlpkg train`` scores only the selected candidate.

Usage: ``python bench/families/bench_families.py [--pairs BTC ETH LTC] [--families ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from _machine import describe_machine, peak_rss_mib

from mlpkg.config import FAMILIES, NEURAL_FAMILIES, RunConfig
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.promotion import (
    PromotionDecision,
    best_naive,
    decide_promotion,
    holdout_dm,
)
from mlpkg.evaluation.selection import add_ensembles, candidate_scores, final_weights
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.models.ensemble import combine
from mlpkg.pipelines.dataset import prepare_dataset
from mlpkg.pipelines.evaluate import evaluate_development
from mlpkg.pipelines.holdout import score_holdout


def worker(pair: str, family: str, families: list[str], out: Path, params: dict[str, str]) -> None:
    """Development folds + holdout of one family; write predictions and a JSON record.

    The dataset, holdout and folds are those of all ``families`` together (the longest window
    sets the context), so every family is scored on the same rows.
    """
    full = RunConfig.from_flat(pair=pair, models=",".join(families), importance_rows=0, **params)
    config = full.model_copy(update={"models": (family,)})
    started = time.perf_counter()
    dataset = prepare_dataset(full)
    development = evaluate_development(dataset, config)
    dev_seconds = time.perf_counter() - started
    holdout = score_holdout(development, config)
    fits = development.fits[development.fits["model"] == family]
    record = {
        "pair": pair,
        "family": family,
        "fit_seconds_per_fold": [round(s, 1) for s in fits["fit_seconds"]],
        "stopping_points": [None if pd.isna(s) else int(s) for s in fits["stopping_point"]],
        "dev_seconds": dev_seconds,
        "total_seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
    }
    development.predictions.to_csv(out / f"{pair}-{family}-dev.csv", index=False)  # every seed
    holdout.to_csv(out / f"{pair}-{family}-holdout.csv", index=False)
    (out / f"{pair}-{family}.json").write_text(json.dumps(record))


def _loss(rows: pd.DataFrame) -> float:
    return float(log_losses(rows["y_true"], rows["proba_up"]).mean())


def _seed_std(rows: pd.DataFrame) -> float:
    """Std across seeds of the mean fold log loss (NaN when only one seed was saved)."""
    per_seed = rows.groupby("seed").apply(lambda s: s.groupby("fold").apply(_loss).mean())
    return float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan")


def _verdict(decision: PromotionDecision) -> str:
    """'promote', or the conditions the promotion rule (no champion) would fail."""
    failed = [c.name for c in decision.conditions if not c.passed]
    return "promote" if decision.promote else "fails " + ", ".join(failed)


def _accuracy(rows: pd.DataFrame) -> float:
    return float(((rows["proba_up"] > 0.5) == (rows["y_true"] == 1)).mean())


def _ensemble_holdout(
    name: str, members: list[str], dev: pd.DataFrame, holdouts: dict
) -> pd.DataFrame:
    weights = final_weights(dev, name, members, int(dev["seed"].min()))
    first = holdouts[members[0]]
    rows = first[first["model"] == members[0]].sort_values("open_time").copy()
    matrix = np.column_stack(
        [
            holdouts[m][holdouts[m]["model"] == m].sort_values("open_time")["proba_up"]
            for m in members
        ]
    )
    w = np.asarray([weights[m] for m in members])
    rows["proba_up"] = combine(matrix, w / w.sum())
    rows["model"] = name
    return rows


def summarize(pair: str, families: list[str], out: Path, horizon: int) -> list[dict]:
    """Rows of the table for one pair: every family, both ensembles, the references."""
    dev = pd.concat(
        [pd.read_csv(out / f"{pair}-{f}-dev.csv", parse_dates=["open_time"]) for f in families]
    )
    dev = dev.drop_duplicates(["fold", "seed", "model", "open_time"])
    holdouts = {
        f: pd.read_csv(out / f"{pair}-{f}-holdout.csv", parse_dates=["open_time"]) for f in families
    }
    neural = [f for f in families if f in NEURAL_FAMILIES]
    dev, _ = add_ensembles(dev, ["weighted", "stacked"] if neural else ["stacked"], families)
    records = {f: json.loads((out / f"{pair}-{f}.json").read_text()) for f in families}
    candidates = [*families, *(["weighted"] if neural else []), "stacked"]
    scores = candidate_scores(dev, candidates + list(NAIVE_BASELINES))
    references = holdouts[families[0]]
    rows = []
    dev_naive = best_naive(dev[dev["seed"] == dev["seed"].min()], NAIVE_BASELINES)
    for name in candidates + list(NAIVE_BASELINES):
        if name in families:
            held = holdouts[name][holdouts[name]["model"] == name]
        elif name in ("weighted", "stacked"):
            members = neural if name == "weighted" else families
            held = _ensemble_holdout(name, members, dev, holdouts)
        else:
            held = references[references["model"] == name]
        frame = pd.concat([held, references[references["model"].isin(NAIVE_BASELINES)]])
        naive = dev_naive  # the rule's reference is chosen on development, never on the holdout
        test = holdout_dm(frame, name, naive, horizon) if name not in NAIVE_BASELINES else None
        rule = (
            None
            if test is None
            else decide_promotion(frame, name, baseline=naive, horizon=horizon, champion=None)
        )
        record = records.get(name, {})
        dev_rows = dev[dev["model"] == name]
        rows.append(
            {
                "pair": pair,
                "model": name,
                "fit_s_per_fold": record.get("fit_seconds_per_fold", ""),
                "peak_rss_mib": round(record["peak_rss_mib"]) if record else "",
                "dev_log_loss": scores[name],
                "dev_log_loss_fold_std": float(dev_rows.groupby("fold").apply(_loss).std()),
                "dev_log_loss_seed_std": _seed_std(dev_rows),
                "dev_accuracy": _accuracy(dev_rows),
                "holdout_log_loss": _loss(held),
                "holdout_accuracy": _accuracy(held),
                "holdout_dm_p_vs_best_naive": None if test is None else test.p_value,
                "best_naive": naive,
                "rule": None if rule is None else _verdict(rule),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", nargs="+", default=["BTC", "ETH", "LTC"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--worker", nargs=3, metavar=("PAIR", "FAMILY", "OUT"))
    parser.add_argument("--param", action="append", default=[], help="run parameter KEY=VALUE")
    parser.add_argument("--out", default="", help="keep the raw predictions in this folder")
    args = parser.parse_args()
    params = dict(item.split("=", 1) for item in args.param)
    if args.worker:
        worker(args.worker[0], args.worker[1], args.families, Path(args.worker[2]), params)
        return
    print(describe_machine())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        table = []
        for pair in args.pairs:
            for family in args.families:
                if not (out / f"{pair}-{family}.json").exists():
                    cmd = [sys.executable, __file__, "--worker", pair, family, str(out)]
                    cmd += [f"--param={item}" for item in args.param]
                    cmd += ["--families", *args.families]
                    subprocess.run(cmd, check=True)
                print(f"done {pair} {family}", flush=True)
            table += summarize(
                pair, args.families, out, RunConfig.from_flat(pair=pair, **params).horizon
            )
    frame = pd.DataFrame(table)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(frame.round(4).to_string(index=False))
    print(markdown(frame.round(4)))


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub table of the frame (for docs/benchmarks.md)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
