"""Benchmark: learning across pairs on the five shipped pairs.

Variants of each family (``--families``) on every pair: ``per_pair``, ``cross``
(``BTC,market``), ``pooled``, ``pooled_ind`` (with pair columns), ``pooled_ft`` (neural
families) and the ``cold`` start; what each runs is in ``mlpkg.pipelines.pooled_runs``, how it
is summarised in ``mlpkg.pipelines.pooled_summary``.

Every (pair, variant) runs in its own worker process with all ``--families`` together (one
dataset, one pool; the peak RSS is that process's) and writes each family's predictions to
``--out`` (a rerun resumes). NOTE: every variant is scored on the holdout for this research
record; ``--summarize`` counts those uses per pair and names the development pick; the table
selects nothing. ``--summarize`` also writes ``variants.csv`` and ``cold.csv`` (into
``--summary-dir``, default ``--out``), which notebook 30 shows.

Usage::

    python bench/pooled/bench_pooled.py --families logistic lightgbm --out /tmp/pooled
    python bench/pooled/bench_pooled.py --families lstm --param lstm_epochs=3 ... --out /tmp/p
    python bench/pooled/bench_pooled.py --summarize --out /tmp/pooled \
        --summary-dir bench/pooled/summaries/full
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from _machine import describe_machine

from mlpkg.config import SHIPPED_PAIRS
from mlpkg.pipelines.pooled_runs import (
    ComparisonSettings,
    all_variants,
    run_unit,
    unit_done,
    variants_of,
)
from mlpkg.pipelines.pooled_summary import PairsSummary, save_summary, summarize


def _num(value: float, digits: int = 4) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _gain(gain: float, p: float) -> str:
    return "" if gain is None or math.isnan(gain) else f"{gain:+.1f} ({p:.3f})"


def variants_markdown(variants: pd.DataFrame) -> list[str]:
    """The per-unit table in markdown."""
    lines = [
        "| pair | family | variant | fit s (mean) | peak RSS MiB | dev log loss ± fold / seed std"
        " | dev acc. | dev vs per_pair mnat (DM p) | holdout log loss | holdout acc. |"
        " holdout vs per_pair mnat (DM p) | holdout vs best naive mnat |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in variants.itertuples():
        lines.append(
            f"| {r.pair} | {r.family} | {r.variant} | {r.fit_seconds:.1f} | "
            f"{r.peak_rss_mib:.0f} | {r.dev_log_loss:.4f} ± {_num(r.dev_fold_std)} / "
            f"{_num(r.dev_seed_std)} | {r.dev_accuracy:.3f} | "
            f"{_gain(r.dev_gain_mnat, r.dev_dm_p)} | {r.holdout_log_loss:.4f} | "
            f"{r.holdout_accuracy:.3f} | {_gain(r.holdout_gain_mnat, r.holdout_dm_p)} | "
            f"{r.holdout_vs_naive_mnat:+.1f} |"
        )
    return lines


def cold_markdown(cold: pd.DataFrame) -> list[str]:
    """The cold-start table in markdown."""
    lines = [
        "Cold start (last development fold; own = the pair's last rows before it only):",
        "",
        "| pair | family | own rows | cold_own log loss | cold_pooled (vs own mnat, DM p) |"
        " cold_pooled_ft (vs own mnat, DM p) | fit s own / pooled / ft |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in cold.to_dict("records"):
        cells = []
        for name in ("cold_pooled", "cold_pooled_ft"):
            loss = r.get(f"{name}_log_loss", math.nan)
            cells.append(
                ""
                if math.isnan(loss)
                else f"{loss:.4f} ({r[f'{name}_gain_mnat']:+.1f}, {r[f'{name}_dm_p']:.3f})"
            )
        secs = " / ".join(
            f"{r[k]:.0f}" for k in r if k.endswith("_seconds") and not math.isnan(r[k])
        )
        lines.append(
            f"| {r['pair']} | {r['family']} | {r['own_rows']} | {r['cold_own_log_loss']:.4f} | "
            f"{cells[0]} | {cells[1]} | {secs} |"
        )
    return lines


def summary_markdown(summary: PairsSummary) -> str:
    """Every table of the summary in markdown."""
    lines = [f"Summarised on: {describe_machine()}", "", *variants_markdown(summary.variants)]
    lines += [
        "",
        "Wins on development (lower mean dev log loss than per_pair, same family) and "
        "holdout DM verdicts (one-sided p < 0.05 against per_pair), in pairs:",
        "",
        "| family | variant | pairs | dev wins | holdout wins (lower log loss) |"
        " holdout DM p < 0.05 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in summary.wins.itertuples():
        lines.append(
            f"| {r.family} | {r.variant} | {r.pairs} | {r.dev_wins} | {r.holdout_wins} | "
            f"{r.holdout_dm_wins} |"
        )
    picks = summary.picks.sort_values(["pair", "family"])
    uses = summary.holdout_uses
    lines += [
        "",
        "Development pick per (pair, family) among the variants: "
        + "; ".join(f"{r.pair} {r.family}: {r.variant}" for r in picks.itertuples()),
        "",
        "Holdout uses per pair (every variant scored once): "
        + ", ".join(f"{p} {n}" for p, n in uses.items()),
    ]
    if not summary.cold.empty:
        lines += ["", *cold_markdown(summary.cold)]
    return "\n".join(lines)


def main() -> None:
    """Run the missing units in worker processes, or summarise them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", nargs="+", default=list(SHIPPED_PAIRS))
    parser.add_argument("--families", nargs="+", default=["logistic", "lightgbm"])
    parser.add_argument("--pool", nargs="+", default=list(SHIPPED_PAIRS), help="pooled fits' pairs")
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE run parameter")
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--cold-rows", type=int, default=1440, help="own rows (60 days hourly)")
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summarize", action="store_true")
    parser.add_argument("--summary-dir", type=Path, default=None, help="default: --out")
    parser.add_argument("--worker", nargs=2, metavar=("PAIR", "VARIANT"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = ComparisonSettings(
        pairs=tuple(args.pairs),
        families=tuple(args.families),
        params=dict(item.split("=", 1) for item in args.param),
        finetune_epochs=args.finetune_epochs,
        cold_rows=args.cold_rows,
        pool=tuple(args.pool),
    )
    if args.summarize:
        summary = summarize(args.out, args.pairs, args.families, args.horizon)
        folder = args.summary_dir or args.out
        save_summary(summary, folder)
        text = summary_markdown(summary)
        (folder / "summary.md").write_text(text + "\n")
        sys.stdout.write(text + "\n")
        return
    if args.worker:
        run_unit(args.worker[0], args.worker[1], settings, args.out)
        return
    for pair in args.pairs:  # pair by pair: a stopped run leaves whole pairs
        for variant in args.variants or all_variants(args.families):
            wanted = [f for f in args.families if variant in variants_of(f)]
            if unit_done(args.out, pair, wanted, variant):
                continue
            started = time.perf_counter()
            command = [sys.executable, __file__, *sys.argv[1:], "--worker", pair, variant]
            done = subprocess.run(command, check=False)
            sys.stdout.write(
                f"{pair} {variant}: exit {done.returncode}, {time.perf_counter() - started:.0f} s\n"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
