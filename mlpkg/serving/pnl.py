"""The served signals' policy and realised P&L: ``/api/models/{pair}/status`` and ``/metrics``.

The P&L of a version is read from its settled predictions (``PredictionStore.pnl_by_version``):
each served signal is a tranche of ``1/h`` of the position it stood for under the version's
policy, held from its candle's close to its target candle's close (the holdout backtest's
accounting, before fees).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlpkg.serving.schemas import LivePnl, SignalPolicyOut

if TYPE_CHECKING:
    from mlpkg.config import Settings
    from mlpkg.serving.model_cache import LoadedModel, ModelCache
    from mlpkg.storage import PredictionStore


def policy_body(model: LoadedModel, settings: Settings) -> SignalPolicyOut:
    """The thresholds ``model`` answers with and where they come from."""
    strong, normal = model.thresholds(settings)
    policy = model.policy
    source: Literal["policy", "environment", "fallback"]
    if settings.signals_overridden:
        source = "environment"
    elif policy is not None:
        source = "policy"
    else:
        source = "fallback"
    objective = policy.objective if policy is not None else math.nan
    return SignalPolicyOut(
        source=source,
        normal=normal,
        strong=strong,
        mode=policy.mode if policy is not None else "long_flat",
        objective=objective if math.isfinite(objective) else None,
        note=policy.note if policy is not None else "no policy recorded: the seed thresholds",
    )


def pnl_body(store: PredictionStore, pair: str) -> list[LivePnl]:
    """Each version's realised P&L (versions that recorded positions only)."""
    return [
        LivePnl(model_version=version, **numbers)
        for version, numbers in store.pnl_by_version(pair).items()
    ]


class PnlCollector(Collector):
    """``mlpkg_live_pnl_return`` and ``mlpkg_live_pnl_settled`` per pair and version (scrape time).

    ``models`` and ``store`` are set when the service state opens (nothing before).
    """

    def __init__(self) -> None:
        self.models: ModelCache | None = None
        self.store: PredictionStore | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield the realised P&L gauges of every configured pair."""
        gross = GaugeMetricFamily(
            "mlpkg_live_pnl_return",
            "Realised gross return of the served signals (sum of 1/h tranches), per version.",
            labels=["pair", "version"],
        )
        settled = GaugeMetricFamily(
            "mlpkg_live_pnl_settled",
            "Settled predictions with a recorded position, per version.",
            labels=["pair", "version"],
        )
        if self.models is not None and self.store is not None:
            for pair in self.models.pairs:
                for version, numbers in self.store.pnl_by_version(pair).items():
                    gross.add_metric([pair, version], numbers["gross_return"])
                    settled.add_metric([pair, version], float(numbers["n_settled"]))
        yield from (gross, settled)
