"""The served signal follows the version's policy; /status and /metrics show it and the P&L."""

from __future__ import annotations

import pandas as pd
import pytest

from mlpkg.models.signals import POLICY_META, SignalPolicy

pytestmark = pytest.mark.slow


def test_status_shows_the_versions_policy_and_the_served_rows_record_its_position(server, tracked):
    policy = SignalPolicy.from_dict(tracked.trained.bundle.extra[POLICY_META])
    answer = server.client.get("/api/predictions/BTC").json()["prediction"]
    body = server.client.get("/api/models/BTC/status").json()
    shown = body["signalPolicy"]
    assert shown["source"] == "policy"
    assert (shown["normal"], shown["strong"], shown["mode"]) == (
        policy.normal,
        policy.strong,
        policy.mode,
    )
    stored = server.state.store.get(answer["metadata"]["predictionId"])
    assert stored.signal == answer["signal"]
    assert stored.position == policy.position(answer["signal"])
    history = server.client.get("/api/predictions/BTC/history?limit=1000").json()["predictions"]
    row = next(r for r in history if r["id"] == stored.id)
    assert row["position"] == stored.position and row["signal"] == answer["signal"]
    assert isinstance(body["livePnlByVersion"], list)


def test_mlpkg_signal_variables_override_the_policy(start_server):
    running = start_server(store="override", signal_strong=0.0, signal_normal=0.0)
    body = running.client.get("/api/models/BTC/status").json()["signalPolicy"]
    assert body["source"] == "environment" and body["strong"] == 0.0
    answer = running.client.get("/api/predictions/BTC").json()["prediction"]
    assert answer["signal"].startswith("STRONG_")  # any lean passes a 0 threshold


def test_settled_signals_show_their_pnl_in_status_and_metrics(start_server, tracked):
    running = start_server(store="pnl")
    store = running.state.store
    answer = running.client.get("/api/predictions/BTC").json()["prediction"]
    stored = store.get(answer["metadata"]["predictionId"])
    settled = stored.close_at_prediction * 1.01  # the target candle closed 1 % higher
    closes = pd.Series([settled], index=pd.DatetimeIndex([stored.target_time]))
    assert store.fill_outcomes("BTC", closes) == 1
    version = tracked.champion.version
    pnl = {
        p["modelVersion"]: p
        for p in running.client.get("/api/models/BTC/status").json()["livePnlByVersion"]
    }
    assert pnl[version]["nSettled"] == 1
    assert pnl[version]["grossReturn"] == pytest.approx(stored.position * 0.01 / stored.horizon)
    metrics = running.client.get("/metrics").text
    assert f'mlpkg_live_pnl_settled{{pair="BTC",version="{version}"}} 1.0' in metrics
    assert "mlpkg_live_pnl_return{" in metrics
