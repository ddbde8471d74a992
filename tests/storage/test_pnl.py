"""Realised P&L of served signals per version, from settled predictions with a position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from support import prediction_record

from mlpkg.storage import PredictionStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _record(candle: int, version: str, position: float | None, close: float, horizon: int = 2):
    return prediction_record(
        T0 + candle * HOUR,
        horizon=horizon,
        probability=0.7,
        confidence=0.4,
        signal="BUY",
        model_version=version,
        run_id="r",
        close_at_prediction=close,
        position=position,
    )


def test_pnl_sums_each_settled_signal_as_a_tranche_of_its_position(tmp_path):
    closes = pd.Series(
        [100.0, 110.0, 99.0, 121.0, 90.0],
        index=pd.date_range(T0, periods=5, freq="h", tz="UTC"),
    )
    with PredictionStore(tmp_path / "p.db") as store:
        store.add(_record(0, "1", 1.0, 100.0))  # settles at candle 2: 99/100 - 1 = -1 %
        store.add(_record(1, "1", -0.5, 110.0))  # candle 3: short half of +10 %
        store.add(_record(2, "1", 0.0, 99.0))  # flat: counted, not traded
        store.add(_record(3, "1", 1.0, 121.0))  # target candle 5 not closed yet: pending
        store.add(_record(0, "2", None, 100.0))  # no position recorded: left out
        assert store.fill_outcomes("BTC", closes) == 4
        pnl = store.pnl_by_version("BTC")
    assert set(pnl) == {"1"}
    one = pnl["1"]
    assert one["n_settled"] == 3 and one["n_traded"] == 2
    expected = (1.0 * (99 / 100 - 1) + -0.5 * (121 / 110 - 1)) / 2
    assert one["gross_return"] == pytest.approx(expected)
    assert one["exposure"] == pytest.approx((1.0 + 0.5) / 2)
    assert one["hit_rate"] == 0.0  # both traded tranches lost


def test_the_position_is_stored_and_read_back(tmp_path):
    with PredictionStore(tmp_path / "p.db") as store:
        row_id = store.add(_record(0, "1", -1.0, 100.0))
        assert store.get(row_id).position == -1.0
        assert store.pnl_by_version("BTC") == {}
