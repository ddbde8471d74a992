"""Run the learning-across-pairs comparison: each variant of each family on a pair.

Variants of a family, each on the pair's own development folds (fold and seed spread), then
refit on its development period and scored on its holdout once:

- ``per_pair``: the pair's own rows and features (what ``mlpkg train`` does);
- ``cross``: the same with the cross-asset features ``BTC,market``;
- ``pooled``: one model fitted on the development rows of every pool pair (own features),
  scored on the pair; ``pooled_ind``: the same with one-hot pair columns;
- ``pooled_ft`` (neural families): ``pooled`` then ``finetune_epochs`` epochs on the pair.

Cold start (``cold``, development period only, no holdout): the pair's last development fold
scored by a model that saw only the pair's ``cold_rows`` rows before it (``cold_own``), by a
model pooled on the *other* pairs up to the same cutoff that never saw the pair
(``cold_pooled``) and, for the neural families, by that model fine-tuned on the pair's rows
(``cold_pooled_ft``).

Each unit writes ``<PAIR>-<family>-<variant>.json`` (times, peak memory, rows) and its
predictions (``-dev.csv``, ``-holdout.csv``) into a results folder, which
``mlpkg.pipelines.pooled_summary`` reads. Used by ``bench/pooled/bench_pooled.py`` (one worker
process per unit) and, at a tiny size, by notebook 30 (:func:`run_comparison`). Every variant
is scored on the holdout: this is a research record, and the summary counts those uses.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlpkg.config import NEURAL_FAMILIES, RunConfig
from mlpkg.evaluation.walk_forward import ModelSpec, fit_and_score
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.models.families import make_estimator
from mlpkg.models.pooled import Pool, PoolMember, pooled_class, using_pool
from mlpkg.pipelines.dataset import PairDataset, prepare_dataset
from mlpkg.pipelines.evaluate import (
    Development,
    development_split,
    evaluate_development,
    procedure_for,
)
from mlpkg.pipelines.holdout import score_holdout
from mlpkg.pipelines.pooled import load_pool

VARIANTS: dict[str, dict[str, Any]] = {
    "per_pair": {},
    "cross": {"cross_assets": "BTC,market"},
    "pooled": {"pooled": True},
    "pooled_ind": {"pooled": True, "pair_indicator": True},
    "pooled_ft": {"pooled": True},  # finetune_epochs from the comparison's settings
}
COLD = ("cold_own", "cold_pooled", "cold_pooled_ft")


@dataclass(frozen=True)
class ComparisonSettings:
    """What a comparison runs (shared by every unit of one results folder).

    Attributes:
        pairs: The pairs compared.
        families: The model families.
        params: Further run parameters (``RunConfig.from_flat`` keys, e.g. ``max_rows``).
        finetune_epochs: Epochs of fine-tuning on the pair (``pooled_ft``, ``cold_pooled_ft``).
        cold_rows: The pair's own rows before the last fold in the cold start.
        pool: The pairs every pooled fit reads (empty: ``pairs``). A run of a few pairs at a
            time keeps the same pool this way.
    """

    pairs: tuple[str, ...]
    families: tuple[str, ...] = ("logistic", "lightgbm")
    params: Mapping[str, Any] = field(default_factory=dict)
    finetune_epochs: int = 2
    cold_rows: int = 1440
    pool: tuple[str, ...] = ()


def variants_of(family: str) -> list[str]:
    """The variants a family runs (fine-tuning only for the neural families), then ``cold``."""
    names = [v for v in VARIANTS if v != "pooled_ft" or family in NEURAL_FAMILIES]
    return [*names, "cold"]


def unit_stem(out: Path, pair: str, family: str, variant: str) -> Path:
    """The path stem of one unit's files in a results folder."""
    return out / f"{pair}-{family}-{variant}"


def variant_config(
    pair: str, families: Sequence[str], variant: str, settings: ComparisonSettings
) -> RunConfig:
    """The run config of one variant of ``families`` on ``pair``."""
    params: dict[str, Any] = dict(settings.params)
    params.update(VARIANTS.get(variant, {}))
    if variant == "pooled_ft":
        params["finetune_epochs"] = settings.finetune_epochs
    return RunConfig.from_flat(
        pair=pair,
        models=",".join(families),
        importance_rows=0,
        pool_pairs=",".join(settings.pool or settings.pairs),
        **params,
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_variant(
    pair: str, families: Sequence[str], variant: str, settings: ComparisonSettings, out: Path
) -> None:
    """Development folds and holdout of one variant of ``families`` (one dataset, one pool).

    Every family is refit on the development period and scored on the holdout, each once.
    """
    config = variant_config(pair, families, variant, settings)
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
            "together_with": list(families),
            "fit_seconds": [round(float(s), 2) for s in fits["fit_seconds"]],
            "stopping_points": [None if pd.isna(s) else int(s) for s in fits["stopping_point"]],
            "dev_seconds": dev_seconds,
            "total_seconds": time.perf_counter() - started,
            "peak_rss_mib": peak_rss_mib(),
            "features": int(dataset.X.shape[1]),
            "labelled_rows": int(dataset.labelled.sum()),
        }
        stem = unit_stem(out, pair, family, variant)
        development.predictions[keep].to_csv(f"{stem}-dev.csv", index=False)
        holdouts[family].to_csv(f"{stem}-holdout.csv", index=False)
        Path(f"{stem}.json").write_text(json.dumps(record))


def _holdout(development: Development, config: RunConfig, family: str) -> pd.DataFrame:
    """The family refit on the development period and scored on the holdout once."""
    procedure = procedure_for(family, config, development.predictions, development.fits)
    return score_holdout(replace(development, procedure=procedure), config)


def run_cold(pair: str, family: str, settings: ComparisonSettings, out: Path) -> None:
    """The cold start of ``family`` on the pair's last development fold (no holdout row read)."""
    config = variant_config(pair, [family], "per_pair", settings)
    dataset = prepare_dataset(config)
    _, folds = development_split(dataset, config)
    fold = folds[-1]
    own = (max(0, fold.train_end - settings.cold_rows), fold.train_end)
    scored = (fold.test_start, fold.test_end)
    others = {p: m for p, m in load_pool(config).items() if p != pair}
    frames, seconds = [], {}
    for name in COLD:
        if name == "cold_pooled_ft" and family not in NEURAL_FAMILIES:
            continue
        epochs = settings.finetune_epochs if name == "cold_pooled_ft" else 0
        spec = _cold_spec(family, config, others, name, epochs)
        started = time.perf_counter()
        with using_pool(others):
            result = fit_and_score(spec, config.seed, dataset.X, dataset.y, own, scored, name)
        seconds[name] = time.perf_counter() - started
        frames.append(_scored_frame(name, dataset, result.positions, result.p_up))
    stem = unit_stem(out, pair, family, "cold")
    pd.concat(frames).to_csv(f"{stem}-dev.csv", index=False)
    record = {"pair": pair, "family": family, "variant": "cold", "own_rows": own[1] - own[0]}
    Path(f"{stem}.json").write_text(
        json.dumps({**record, "fit_seconds": seconds, "peak_rss_mib": peak_rss_mib()})
    )


def _scored_frame(name: str, dataset: PairDataset, rows: Any, p_up: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": name,
            "open_time": dataset.X.index[rows],
            "proba_up": p_up,
            "y_true": dataset.y.to_numpy()[rows],
        }
    )


def _cold_spec(
    family: str, config: RunConfig, others: Mapping[str, PoolMember], name: str, epochs: int
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

    return ModelSpec(build)


def unit_done(out: Path, pair: str, families: Sequence[str], variant: str) -> bool:
    """Whether every family of ``variant`` on ``pair`` has its record in ``out``."""
    return all(unit_stem(out, pair, f, variant).with_suffix(".json").exists() for f in families)


def run_unit(pair: str, variant: str, settings: ComparisonSettings, out: Path) -> None:
    """One (pair, variant) unit of every family that runs the variant (cold: one by one)."""
    families = [f for f in settings.families if variant in variants_of(f)]
    if variant == "cold":
        for family in families:
            run_cold(pair, family, settings, out)
    elif families:
        run_variant(pair, families, variant, settings, out)


def all_variants(families: Sequence[str]) -> list[str]:
    """Every variant any of ``families`` runs, in order."""
    return list(dict.fromkeys(v for f in families for v in variants_of(f)))


def run_comparison(
    settings: ComparisonSettings,
    out: Path,
    variants: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run every missing unit in this process, pair by pair (a rerun resumes); return ``out``.

    The benchmark runs each unit in its own process instead (its peak memory is the unit's).
    """
    out.mkdir(parents=True, exist_ok=True)
    for pair in settings.pairs:
        for variant in variants or all_variants(settings.families):
            families = [f for f in settings.families if variant in variants_of(f)]
            if unit_done(out, pair, families, variant):
                continue
            started = time.perf_counter()
            run_unit(pair, variant, settings, out)
            if progress is not None:
                progress(f"{pair} {variant}: {time.perf_counter() - started:.0f} s")
    return out
