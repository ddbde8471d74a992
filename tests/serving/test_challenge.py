"""The live challenge on stored shadow predictions: its reference, its decision, its record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from support import mlflow_store, prediction_record, register_empty_version

from mlpkg.config import Settings
from mlpkg.serving.challenge import ChallengeCollector, ChallengeService, naive_reference
from mlpkg.serving.model_cache import ModelCache
from mlpkg.storage import PredictionRecord, PredictionStore
from mlpkg.tracking.challengers import CHALLENGER, register_challenger
from mlpkg.tracking.registry import CHAMPION, alias_version, model_name

HOUR = timedelta(hours=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_naive_reference_uses_only_outcomes_known_when_the_candle_closed():
    candles = [T0 + i * HOUR for i in range(5)]
    targets = [t + 2 * HOUR for t in candles]  # h = 2
    up = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    base = naive_reference(candles, targets, up)
    # candle 0, 1: nothing known -> 1/2; candle 2: outcome of 0 known (target 2) -> 2/3;
    # candle 3: outcomes of 0, 1 -> 3/4; candle 4: outcomes of 0..2 -> 3/5.
    assert base.tolist() == pytest.approx([0.5, 0.5, 2 / 3, 3 / 4, 3 / 5])


@pytest.fixture
def registry_store(tmp_path: Path) -> Iterator[mlflow.MlflowClient]:
    with mlflow_store(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        yield mlflow.MlflowClient()


def _model(version: str, alias: str) -> SimpleNamespace:
    bundle = SimpleNamespace(
        run_config=SimpleNamespace(horizon=1),
        trained_on={"last_open_time": (T0 - 3 * HOUR).isoformat()},
        candle_interval=pd.Timedelta(HOUR),
    )
    return SimpleNamespace(version=version, alias=alias, bundle=bundle)


def _record(candle: int, version: str, probability: float, role: str) -> PredictionRecord:
    record = prediction_record(
        T0 + candle * HOUR,
        probability=probability,
        direction="up" if probability >= 0.5 else "down",
        confidence=abs(probability - 0.5) * 2,
        model_version=version,
        close_at_prediction=100.0 + (candle % 2),
    )
    return replace(record, role=role)


class Clock:
    def now(self) -> pd.Timestamp:
        return pd.Timestamp("2024-02-01", tz="UTC")


def test_a_better_challenger_is_promoted_live_after_the_burn_in(registry_store, tmp_path):
    champion = register_empty_version(registry_store, tmp_path, "BTC", CHAMPION)
    challenger = register_empty_version(registry_store, tmp_path, "BTC")
    register_challenger("BTC", challenger, data_end=(T0 - 2 * HOUR).isoformat(), reason="r")
    # Closes alternate 100, 101, 100, ...: after an even candle the price goes up.
    n = 260
    with PredictionStore(tmp_path / "p.db") as store:
        for i in range(n):
            up = i % 2 == 0
            store.add(_record(i, challenger, 0.7 if up else 0.3, "challenger"))
            store.add(_record(i, champion, 0.5, "served"))
        store.fill_outcomes(
            "BTC",
            pd.Series(
                [100.0 + (i % 2) for i in range(n + 1)],
                index=pd.DatetimeIndex([T0 + i * HOUR for i in range(n + 1)]),
            ),
        )
        settings = Settings(pairs=["BTC"], challenge_max=5000)
        service = ChallengeService(
            settings,
            store,
            ModelCache(["BTC"], CHAMPION),
            None,
            Clock(),  # type: ignore[arg-type]
        )
        service.challengers._slots["BTC"].model = _model(challenger, CHALLENGER)  # type: ignore[assignment]
        served = _model(champion, CHAMPION)

        early = service.evaluate("BTC", service.challengers.peek("BTC"), served)  # type: ignore[arg-type]
        decided = service.decide("BTC", served)  # type: ignore[arg-type]

    assert early.reference == f"champion v{champion}" and early.evidence.settled == n
    assert decided is not None and decided.evidence.state == "promoted"
    assert decided.evidence.n == 200  # the first look after the burn-in
    assert decided.evidence.mean_diff == pytest.approx(np.log(0.5) - np.log(0.7))
    assert decided.evidence.upper < 0 and decided.decided_at == Clock().now()
    assert alias_version("BTC", CHAMPION).version == challenger
    assert alias_version("BTC", CHALLENGER) is None
    tags = registry_store.get_model_version(model_name("BTC"), challenger).tags
    assert tags["decision"] == "promoted-live" and tags["challenge_n"] == "200"
    [(pair, message)] = service.drain()
    assert pair == "BTC" and '"type":"challenge"' in message and '"state":"promoted"' in message
    assert service.challengers.peek("BTC") is None
    gauges = {m.name: m for m in _collector(service).collect()}
    assert gauges["mlpkg_challenge_settled"].samples[0].value == n
    assert gauges["mlpkg_challenge_state"].samples[0].labels["state"] == "promoted"


def _collector(service: ChallengeService) -> ChallengeCollector:
    collector = ChallengeCollector()
    collector.service = service
    return collector


def test_without_a_champion_the_reference_is_the_naive_base_rate(tmp_path):
    with PredictionStore(tmp_path / "p.db") as store:
        for i in range(10):
            store.add(_record(i, "2", 0.6, "challenger"))
        store.fill_outcomes(
            "BTC",
            pd.Series(
                [100.0 + (i % 2) for i in range(11)], index=[T0 + i * HOUR for i in range(11)]
            ),
        )
        service = ChallengeService(
            Settings(pairs=["BTC"]),
            store,
            ModelCache(["BTC"], CHAMPION),
            None,
            Clock(),  # type: ignore[arg-type]
        )
        result = service.evaluate("BTC", _model("2", CHALLENGER), _model("1", "candidate"))  # type: ignore[arg-type]
    assert result.reference == "naive base rate"
    assert result.evidence.settled == 10 and result.evidence.state == "watching"
    assert "burn-in" in result.evidence.reason
