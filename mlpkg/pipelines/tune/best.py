"""A tune's best trial, read back for ``mlpkg train --params-from <tune run id>``.

Reading one JSON artifact must stay light: this module imports neither Ray, Optuna nor
matplotlib (a test imports it in a fresh interpreter and checks ``sys.modules``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mlpkg.config import RunConfig, Settings
from mlpkg.errors import ConfigError
from mlpkg.tracking import trials as trial_runs

log = logging.getLogger(__name__)


def tuned_params(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """The best trial recorded on a tune run (``best_trial.json``: family, params, ...).

    Raises:
        ConfigError: if the run is not a tune run or has no complete trial.
    """
    best = trial_runs.read_best_trial(run_id, settings)
    if not best or not best.get("params"):
        raise ConfigError(
            f"Run {run_id} has no best_trial.json: pass the run id `mlpkg tune` printed (its "
            "parent run), after at least one trial completed every fold."
        )
    return best


def apply_tuned_params(
    config: RunConfig, best: Mapping[str, Any], explicit: set[str] | frozenset[str] = frozenset()
) -> RunConfig:
    """Merge a tune's best params over a run config (``mlpkg train --params-from``).

    The tuned family becomes ``models`` unless ``models`` was given explicitly. A tuned value
    replaces an explicit option of the same name (logged), and a different pair or horizon
    than the tune's is logged too: the params were chosen for those.

    Raises:
        ConfigError: if the merged config is invalid.
    """
    params = dict(best["params"])
    overridden = sorted(name for name in params if name in explicit)
    if overridden:
        log.warning("--params-from replaces the options %s", ", ".join(overridden))
    for name in ("pair", "horizon"):
        if name in best and best[name] != getattr(config, name):
            log.warning(
                "the tuned params were chosen for %s=%s, this run has %s=%s",
                name,
                best[name],
                name,
                getattr(config, name),
            )
    if "models" not in explicit:
        params["models"] = (best["family"],)
    return RunConfig.from_flat(**{**config.to_flat(), **params})
