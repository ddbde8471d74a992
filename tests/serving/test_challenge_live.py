"""A periodic retrain becomes a live challenger and its shadow evidence reaches a decision.

End to end on a real server replaying a user file of real EOS candles (two replayed hours per
second): the pair ``CHAL`` has a tiny champion trained up to ``DATA_END``; one replayed hour
after the start a periodic retrain is queued (then a year of cooldown, so there is one); its
version becomes the ``challenger``, is scored in shadow on every candle after its data, and is
decided at the (here tiny) maximum shadow length ``MLPKG_CHALLENGE_MAX``, which the burn-in of
the test makes the only possible decision at this size. The champion keeps answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from support import SERVED, Registry, poll_until, train_champion

from mlpkg.data.sources import find_gaps, load_shipped
from mlpkg.tracking import registry
from mlpkg.tracking.challengers import CHALLENGER

from .conftest import Running, make_replay_settings, make_settings, run_uvicorn
from .test_live import Subscriber, _ws_url

PAIR = "CHAL"
DATA_END = "2019-08-20T00:00:00+00:00"
FILE_END = "2019-09-01T00:00:00+00:00"
MAX_SHADOW = 12
DEADLINE_S = 240.0


@pytest.fixture(scope="module")
def champion(tracked: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write the replayed file, train CHAL on candles up to DATA_END, make it champion."""
    candles = load_shipped("EOS").loc[pd.Timestamp("2019-07-01", tz="UTC") : pd.Timestamp(FILE_END)]
    assert find_gaps(candles).empty, "the replayed period must have no missing candle"
    folder = tmp_path_factory.mktemp("challenge-data")
    candles.to_csv(folder / f"{PAIR}.csv")
    settings = make_settings(tracked.home, pairs=[PAIR], data_dir=folder)
    served = {"source": "file", "data_end": DATA_END, **SERVED}
    result = train_champion(tracked.home, settings, pair=PAIR, **served).trained
    return {"version": result.version, "folder": folder}


@pytest.fixture(scope="module")
def challenge_server(tracked: Registry, champion: dict[str, Any]) -> Iterator[Running]:
    settings = make_replay_settings(
        tracked.home,
        "challenge",
        champion["folder"],
        7200,
        pairs=[PAIR],
        retrain_every="1h",
        retrain_cooldown="365d",
        challenge_max=MAX_SHADOW,
        ws_queue=5000,
    )
    with run_uvicorn(settings) as running:  # the WebSocket subscriber needs a real socket
        yield running


def _decided(client: Any) -> dict[str, Any] | None:
    answer = client.get(f"/api/models/{PAIR}/challenger")
    if answer.status_code != 200:
        return None
    body = answer.json()
    return body if body["state"] != "watching" else None


@pytest.mark.slow
def test_a_periodic_retrain_is_decided_live_on_shadow_outcomes(challenge_server, champion):
    client = challenge_server.client
    subscriber = Subscriber(_ws_url(challenge_server, f"?pair={PAIR}"))
    try:
        decided = poll_until(
            lambda: _decided(client), timeout=DEADLINE_S, what="the challenger's decision"
        )
        poll_until(lambda: subscriber.of("challenge"), timeout=30, what="a challenge message")
    finally:
        subscriber.close()

    job = next(
        j for j in client.get("/api/train/jobs").json()["jobs"] if j["trigger"] == "periodic"
    )
    assert job["status"] == "succeeded" and job["modelVersion"] == decided["version"]
    assert job["promoted"] is False and job["metrics"]["challenger"] is True
    assert decided["state"] == "rejected" and "maximum" in decided["reason"]
    assert decided["n"] == MAX_SHADOW and decided["maxCandles"] == MAX_SHADOW
    assert decided["reference"] == f"champion v{champion['version']}"
    assert decided["meanDiff"] is not None and decided["upper"] > decided["lower"]
    [message] = subscriber.of("challenge")
    assert message["challenge"]["version"] == decided["version"]
    assert message["challenge"]["state"] == "rejected"

    # Shadow rows: the challenger's own, after its data, one per candle, never the default.
    shadow = client.get(f"/api/predictions/{PAIR}/history?alias=challenger&limit=1000").json()
    rows = shadow["predictions"]
    times = [pd.Timestamp(r["candleTime"]) for r in rows]
    assert {(r["role"], r["modelVersion"]) for r in rows} == {("challenger", decided["version"])}
    assert len(times) == len(set(times)) >= MAX_SHADOW
    assert min(times) >= pd.Timestamp(decided["shadowFrom"])
    assert pd.Timestamp(decided["shadowFrom"]) > pd.Timestamp(job["params"]["data_end"])
    served = client.get(f"/api/predictions/{PAIR}/history?limit=1000").json()["predictions"]
    assert {r["role"] for r in served} == {"served"}
    assert {r["modelVersion"] for r in served} == {champion["version"]}
    latest = client.get(f"/api/predictions/{PAIR}").json()
    assert latest["prediction"]["metadata"]["version"] == champion["version"]
    assert client.get(f"/api/predictions/{PAIR}?alias=challenger").json()["role"] == "challenger"

    # The registry: the champion stayed, the challenger alias is gone, the decision recorded.
    assert registry.alias_version(PAIR, registry.CHAMPION).version == champion["version"]
    assert registry.alias_version(PAIR, CHALLENGER) is None
    status = client.get(f"/api/models/{PAIR}/status").json()
    assert status["challenge"]["state"] == "rejected"
    tags = {v["version"]: v for v in status["versions"]}
    assert decided["version"] in tags
    metrics = client.get("/metrics").text
    assert f'mlpkg_challenge_state{{pair="{PAIR}",state="rejected",version="' in metrics
