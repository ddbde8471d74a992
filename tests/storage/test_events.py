"""The live event log: one row per (pair, model, candle), followed by id, pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlpkg.storage.events import LiveEventStore

T0 = datetime(2019, 8, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def events(tmp_path):
    with LiveEventStore(tmp_path / "live.db") as store:
        yield store


def test_a_candle_is_logged_once_per_model_and_followed_in_order(events):
    assert events.last_id() == 0 and events.last_candle("BTC", "mlpkg-BTC/1") is None
    assert events.append("BTC", "mlpkg-BTC/1", T0, '{"n": 0}')
    assert not events.append("BTC", "mlpkg-BTC/1", T0, '{"n": "again"}')  # scored already
    assert events.append("BTC", "mlpkg-BTC-4h/1", T0, '{"n": 1}')  # another model, same candle
    assert events.append("BTC", "mlpkg-BTC/1", T0 + HOUR, '{"n": 2}')
    start = events.last_id()
    events.append("ETH", "mlpkg-ETH/2", T0, '{"n": 3}')
    assert [e.message for e in events.since(0)] == ['{"n": 0}', '{"n": 1}', '{"n": 2}', '{"n": 3}']
    [new] = events.since(start)
    assert (new.pair, new.model, new.candle_time) == ("ETH", "mlpkg-ETH/2", T0)
    assert events.last_candle("BTC", "mlpkg-BTC/1") == T0 + HOUR
    assert events.candles("BTC") == [
        ("mlpkg-BTC/1", T0),
        ("mlpkg-BTC-4h/1", T0),
        ("mlpkg-BTC/1", T0 + HOUR),
    ]


def test_prune_keeps_the_newest_events(events):
    for i in range(5):
        events.append("BTC", "mlpkg-BTC/1", T0 + i * HOUR, str(i))
    assert events.prune(keep=2) == 3
    assert [e.message for e in events.since(0)] == ["3", "4"]
    assert events.last_candle("BTC", "mlpkg-BTC/1") == T0 + 4 * HOUR
