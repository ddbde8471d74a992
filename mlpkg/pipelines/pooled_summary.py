"""Summarise a learning-across-pairs results folder into tables (benchmark and notebook 30).

Reads the unit files ``mlpkg.pipelines.pooled_runs`` writes and measures, per (pair, family,
variant): the development log loss (mean, spread across folds and across seeds), its gain over
the family's ``per_pair`` variant in millinats per prediction with the one-sided
Diebold-Mariano p (HLN, horizon 5) that the variant is better, the same on the holdout, and the
holdout gain over the best naive baseline. From that one table come the wins per variant, the
development pick per (pair, family) and the holdout uses per pair. :func:`save_summary` writes
the tables as CSV (``variants.csv``, ``cold.csv``) so they can be shipped and shown
(:func:`load_summary`) without the raw predictions.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlpkg.config import get_settings
from mlpkg.errors import ResultsNotFoundError
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.selection import candidate_scores
from mlpkg.evaluation.significance import diebold_mariano
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.pipelines.pooled_runs import (
    COLD,
    ComparisonSettings,
    run_comparison,
    unit_stem,
    variants_of,
)

DM_LEVEL = 0.05
"""The one-sided DM p under which a variant's gain over ``per_pair`` counts as a verdict."""


@dataclass(frozen=True)
class PairsSummary:
    """The comparison of the variants, as tables.

    Attributes:
        variants: One row per (pair, family, variant) with its development and holdout scores.
        cold: One row per (pair, family) cold start (may be empty).
        about: What ran, where and when (a shipped summary's ``README.md``; may be empty).
    """

    variants: pd.DataFrame
    cold: pd.DataFrame
    about: str = ""

    @property
    def wins(self) -> pd.DataFrame:
        """Per (family, variant): on how many pairs it beat ``per_pair``, and DM verdicts."""
        return wins_table(self.variants)

    @property
    def picks(self) -> pd.DataFrame:
        """The development pick per (pair, family): the variant with the lowest dev log loss."""
        return development_picks(self.variants)

    @property
    def holdout_uses(self) -> pd.Series:
        """How many times each pair's holdout was scored (every variant once per family)."""
        return self.variants.groupby("pair", sort=False).size().rename("holdout_uses")


def _loss(rows: pd.DataFrame) -> float:
    return float(log_losses(rows["y_true"], rows["proba_up"]).mean())


def dm_gain(a: pd.DataFrame, b: pd.DataFrame, horizon: int) -> tuple[float, float]:
    """Gain of ``a`` over ``b`` in mnat per prediction on their common rows, and the DM p."""
    merged = a.merge(b, on="open_time", suffixes=("_a", "_b"))
    la = log_losses(merged["y_true_a"], merged["proba_up_a"])
    lb = log_losses(merged["y_true_b"], merged["proba_up_b"])
    test = diebold_mariano(la, lb, horizon, alternative="less")
    return float((lb.mean() - la.mean()) * 1000), float(test.p_value)


def _base_rows(dev: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = dev[(dev["model"] == model) & (dev["seed"] == dev["seed"].min())]
    return rows[["open_time", "proba_up", "y_true"]]


def load_unit(out: Path, pair: str, family: str, variant: str) -> dict[str, Any] | None:
    """One unit's record with its predictions (``dev``, ``holdout``, ``naive``), or None."""
    stem = unit_stem(out, pair, family, variant)
    if not stem.with_suffix(".json").exists():
        return None
    record: dict[str, Any] = json.loads(stem.with_suffix(".json").read_text())
    record["dev"] = pd.read_csv(f"{stem}-dev.csv", parse_dates=["open_time"])
    holdout = Path(f"{stem}-holdout.csv")
    if holdout.exists():
        frame = pd.read_csv(holdout, parse_dates=["open_time"])
        record["holdout"] = frame[frame["model"] == family]
        record["naive"] = frame[frame["model"].isin(NAIVE_BASELINES)]
    return record


def development_scores(dev: pd.DataFrame, family: str) -> dict[str, float]:
    """Mean dev log loss (per seed over folds, then seeds), fold std, seed std, accuracy."""
    rows = dev[dev["model"] == family]
    per_fold = rows.groupby(["seed", "fold"]).apply(_loss).groupby("fold").mean()
    per_seed = rows.groupby("seed").apply(lambda s: s.groupby("fold").apply(_loss).mean())
    return {
        "dev_log_loss": candidate_scores(dev, [family])[family],
        "dev_fold_std": float(per_fold.std(ddof=1)) if len(per_fold) > 1 else math.nan,
        "dev_seed_std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else math.nan,
        "dev_accuracy": float(((rows["proba_up"] > 0.5) == (rows["y_true"] == 1)).mean()),
        "dev_folds": float(len(per_fold)),
        "dev_seeds": float(len(per_seed)),
    }


def variant_row(
    unit: dict[str, Any], base: dict[str, Any] | None, horizon: int = 5
) -> dict[str, Any]:
    """The scores of one (pair, family, variant) unit, against its ``per_pair`` unit if given."""
    family, held, naive = unit["family"], unit["holdout"], unit["naive"]
    best_naive = min(_loss(naive[naive["model"] == n]) for n in NAIVE_BASELINES)
    fits = unit["fit_seconds"]
    row: dict[str, Any] = {
        "pair": unit["pair"],
        "family": family,
        "variant": unit["variant"],
        "fit_seconds": float(np.mean(fits)) if fits else math.nan,
        "peak_rss_mib": float(unit["peak_rss_mib"]),
        **development_scores(unit["dev"], family),
        "holdout_log_loss": _loss(held),
        "holdout_accuracy": float(((held["proba_up"] > 0.5) == (held["y_true"] == 1)).mean()),
        "holdout_rows": len(held),
        "holdout_vs_naive_mnat": (best_naive - _loss(held)) * 1000,
    }
    gains = dict.fromkeys(("dev_gain_mnat", "dev_dm_p", "holdout_gain_mnat", "holdout_dm_p"))
    if base is not None and unit["variant"] != "per_pair":
        dev, base_dev = _base_rows(unit["dev"], family), _base_rows(base["dev"], family)
        gains["dev_gain_mnat"], gains["dev_dm_p"] = dm_gain(dev, base_dev, horizon)
        gains["holdout_gain_mnat"], gains["holdout_dm_p"] = dm_gain(held, base["holdout"], horizon)
    return {**row, **gains}


def variants_table(
    out: Path, pairs: Sequence[str], families: Sequence[str], horizon: int = 5
) -> pd.DataFrame:
    """Every (pair, family, variant) unit found in ``out``, one row each."""
    rows = []
    for pair in pairs:
        for family in families:
            base = load_unit(out, pair, family, "per_pair")
            for variant in [v for v in variants_of(family) if v != "cold"]:
                unit = load_unit(out, pair, family, variant)
                if unit is not None:
                    rows.append(variant_row(unit, base, horizon))
    return pd.DataFrame(rows)


def cold_table(
    out: Path, pairs: Sequence[str], families: Sequence[str], horizon: int = 5
) -> pd.DataFrame:
    """Every cold-start unit found in ``out``: own rows, log losses and gains over cold_own."""
    rows = []
    for pair in pairs:
        for family in families:
            unit = load_unit(out, pair, family, "cold")
            if unit is None:
                continue
            dev = unit["dev"]
            own = dev[dev["model"] == "cold_own"]
            row: dict[str, Any] = {
                "pair": pair,
                "family": family,
                "own_rows": unit["own_rows"],
                "cold_own_log_loss": _loss(own),
            }
            for name in COLD[1:]:
                scored = dev[dev["model"] == name]
                if scored.empty:
                    continue
                gain, p = dm_gain(scored, own, horizon)
                row |= {f"{name}_log_loss": _loss(scored), f"{name}_gain_mnat": gain}
                row[f"{name}_dm_p"] = p
            row |= {f"{name}_seconds": s for name, s in unit["fit_seconds"].items()}
            rows.append(row)
    return pd.DataFrame(rows)


def wins_table(variants: pd.DataFrame) -> pd.DataFrame:
    """Per (family, variant): pairs where it beat ``per_pair`` on dev, holdout, and DM p < 0.05."""
    rows = []
    base = variants[variants["variant"] == "per_pair"].set_index(["pair", "family"])
    for (family, variant), group in variants.groupby(["family", "variant"], sort=True):
        if variant == "per_pair":
            continue
        own = group.set_index(["pair", "family"])
        common = own.index.intersection(base.index)
        rows.append(
            {
                "family": family,
                "variant": variant,
                "pairs": len(common),
                "dev_wins": int(
                    (own.loc[common, "dev_log_loss"] < base.loc[common, "dev_log_loss"]).sum()
                ),
                "holdout_wins": int((own.loc[common, "holdout_gain_mnat"] > 0).sum()),
                "holdout_dm_wins": int((own.loc[common, "holdout_dm_p"] < DM_LEVEL).sum()),
            }
        )
    return pd.DataFrame(rows)


def development_picks(variants: pd.DataFrame) -> pd.DataFrame:
    """The variant with the lowest development log loss per (pair, family)."""
    best = variants.loc[variants.groupby(["pair", "family"], sort=False)["dev_log_loss"].idxmin()]
    return best[["pair", "family", "variant", "dev_log_loss"]].reset_index(drop=True)


def summarize(
    out: Path, pairs: Sequence[str], families: Sequence[str], horizon: int = 5
) -> PairsSummary:
    """The summary of every unit in a results folder of raw unit files.

    Raises:
        ResultsNotFoundError: when ``out`` holds no unit of these pairs and families.
    """
    variants = variants_table(out, pairs, families, horizon)
    if variants.empty:
        raise ResultsNotFoundError(
            f"No benchmark units of {list(pairs)} x {list(families)} in {out}: run "
            "bench/pooled/bench_pooled.py --out DIR first, or pass a folder holding variants.csv."
        )
    return PairsSummary(variants, cold_table(out, pairs, families, horizon))


def save_summary(summary: PairsSummary, folder: Path) -> None:
    """Write ``variants.csv`` and ``cold.csv`` (what :func:`load_summary` reads) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    summary.variants.to_csv(folder / "variants.csv", index=False, float_format="%.6g")
    summary.cold.to_csv(folder / "cold.csv", index=False, float_format="%.6g")


def load_summary(folder: Path | str) -> PairsSummary:
    """Read a summary :func:`save_summary` wrote (relative paths also from the repository root).

    Raises:
        ResultsNotFoundError: when the folder holds no ``variants.csv``.
    """
    path = resolve_folder(folder)
    variants_csv = path / "variants.csv"
    if not variants_csv.is_file():
        raise ResultsNotFoundError(
            f"{variants_csv} does not exist. Pass a folder the pooled benchmark summarised "
            "(bench/pooled/bench_pooled.py --summarize --out DIR writes variants.csv), e.g. "
            "bench/pooled/summaries/full, or an empty folder name to run a tiny comparison."
        )
    cold_csv = path / "cold.csv"
    cold = pd.read_csv(cold_csv) if cold_csv.is_file() and cold_csv.stat().st_size > 1 else None
    about = path / "README.md"
    return PairsSummary(
        pd.read_csv(variants_csv),
        cold if cold is not None else pd.DataFrame(),
        about.read_text() if about.is_file() else "",
    )


def resolve_folder(folder: Path | str) -> Path:
    """``folder`` as given if it exists, else relative to the repository (a source checkout)."""
    path = Path(folder)
    if path.is_absolute() or path.exists():
        return path
    checkout = Path(__file__).resolve().parents[2] / path
    return checkout if checkout.exists() else path


def compare_pairs(
    results: str,
    pairs: Sequence[str],
    families: Sequence[str],
    max_rows: int,
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> PairsSummary:
    """The benchmark summary in ``results``, or (``results`` empty) a tiny comparison run now.

    The tiny comparison runs ``per_pair``, ``cross``, ``pooled``, ``pooled_ind`` (and
    ``pooled_ft`` for a neural family) and the cold start of ``families`` on the last
    ``max_rows`` candles of ``pairs`` (2 folds, 2 seeds, a quarter of the rows as holdout),
    in this process, into ``out`` (None: a new folder in the settings' reports folder). Its
    numbers say nothing about the full-size benchmark; it shows the procedure.

    Raises:
        ResultsNotFoundError: when ``results`` is given and holds no ``variants.csv``.
    """
    if results:
        return load_summary(results)
    comparison = ComparisonSettings(
        pairs=tuple(pairs),
        families=tuple(families),
        params={
            "max_rows": max_rows,
            "n_folds": 2,
            "n_seeds": 2,
            "holdout_fraction": 0.25,
            "holdout_blocks": 2,
        },
        finetune_epochs=1,
        cold_rows=max_rows // 4,
    )
    folder = run_comparison(comparison, out or _new_folder(), None, progress)
    summary = summarize(folder, pairs, families)
    return replace(summary, about=f"Tiny comparison run now into {folder}: {comparison}")


def _new_folder() -> Path:
    settings = get_settings()
    reports = settings.resolve(settings.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="pairs-comparison-", dir=reports))


def spread_figure(summary: PairsSummary, family: str) -> Figure:
    """Development log loss per pair and variant, with the fold spread as error bars."""
    rows = summary.variants[summary.variants["family"] == family]
    pairs = list(dict.fromkeys(rows["pair"]))
    names = list(dict.fromkeys(rows["variant"]))
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    width = 0.8 / max(len(names), 1)
    for i, variant in enumerate(names):
        own = rows[rows["variant"] == variant].set_index("pair").reindex(pairs)
        x = np.arange(len(pairs)) + (i - (len(names) - 1) / 2) * width
        axes.errorbar(
            x, own["dev_log_loss"], yerr=own["dev_fold_std"], fmt="o", capsize=3, label=variant
        )
    axes.set_xticks(np.arange(len(pairs)), pairs)
    axes.set_ylabel("dev log loss (± fold std)")
    axes.set_title(f"{family}: development log loss per variant")
    axes.legend(fontsize="small", ncols=len(names))
    figure.tight_layout()
    return figure
