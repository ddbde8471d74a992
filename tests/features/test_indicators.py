"""Indicators: reference values from `ta` and TA-Lib, and hypothesis bounds on random candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from mlpkg.config import FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features import indicators as ind
from mlpkg.features.build import warmup_rows
from mlpkg.features.lookahead import lookahead_violations

WARM = warmup_rows(FeatureConfig())


@pytest.fixture(scope="module")
def hlcv(btc_candles):
    """BTC columns on a RangeIndex: ta's Parabolic SAR indexes by label in one branch."""
    frame = btc_candles.reset_index(drop=True)
    return frame["high"], frame["low"], frame["close"], frame["volume"]


def _ours_and_ta(name, high, low, close, volume):
    """(our series, ta's series) for one indicator output."""
    if name == "rsi":
        return ind.rsi(close, 14), ta.momentum.RSIIndicator(close, 14).rsi()
    if name in {"macd", "macd_signal", "macd_hist"}:
        ref = ta.trend.MACD(close, 26, 12, 9)
        theirs = {"macd": ref.macd, "macd_signal": ref.macd_signal, "macd_hist": ref.macd_diff}
        return ind.macd(close, 12, 26, 9)[name], theirs[name]()
    if name in {"bb_middle", "bb_upper", "bb_lower", "bb_percent_b", "bb_bandwidth"}:
        ref = ta.volatility.BollingerBands(close, 20, 2)
        theirs = {
            "bb_middle": ref.bollinger_mavg,
            "bb_upper": ref.bollinger_hband,
            "bb_lower": ref.bollinger_lband,
            "bb_percent_b": ref.bollinger_pband,
            "bb_bandwidth": lambda: ref.bollinger_wband() / 100.0,  # ta gives percent
        }
        return ind.bollinger(close, 20, 2.0)[name], theirs[name]()
    if name in {"sma_10", "sma_21"}:
        window = int(name.split("_")[1])
        return ind.sma(close, window), ta.trend.SMAIndicator(close, window).sma_indicator()
    if name in {"stoch_k", "stoch_d"}:
        ref = ta.momentum.StochasticOscillator(high, low, close, 14, 3)
        theirs = ref.stoch() if name == "stoch_k" else ref.stoch_signal()
        return ind.stochastic(high, low, close, 14, 3)[name], theirs
    if name == "williams_r":
        ref = ta.momentum.WilliamsRIndicator(high, low, close, 14).williams_r()
        return ind.williams_r(high, low, close, 14), ref
    return _more_ours_and_ta(name, high, low, close, volume)


def _more_ours_and_ta(name, high, low, close, volume):
    if name in {"tenkan", "kijun", "span_a", "span_b"}:
        ref = ta.trend.IchimokuIndicator(high, low, 9, 26, 52, visual=False)
        theirs = {
            "tenkan": ref.ichimoku_conversion_line,
            "kijun": ref.ichimoku_base_line,
            "span_a": ref.ichimoku_a,
            "span_b": ref.ichimoku_b,
        }
        return ind.ichimoku(high, low, 9, 26, 52)[name], theirs[name]()
    if name in {"adx", "plus_di", "minus_di"}:
        ref = ta.trend.ADXIndicator(high, low, close, 14)
        theirs = {"adx": ref.adx, "plus_di": ref.adx_pos, "minus_di": ref.adx_neg}
        return ind.adx(high, low, close, 14)[name], theirs[name]()
    if name == "atr":
        ref = ta.volatility.AverageTrueRange(high, low, close, 14).average_true_range()
        return ind.adx(high, low, close, 14)["atr"], ref
    if name == "cci":
        return ind.cci(high, low, close, 20, 0.015), ta.trend.CCIIndicator(high, low, close).cci()
    total = volume.rolling(20).sum()
    flows = ind.volume_indicators(close, volume, 20)
    if name == "obv_flow":
        # ta's OBV counts an unchanged close as +volume; ours counts it as 0.
        ties = volume.where(close.diff() == 0.0, 0.0).rolling(20).sum()
        obv = ta.volume.OnBalanceVolumeIndicator(close, volume).on_balance_volume()
        return flows["obv_flow"], (obv.diff(20) - ties) / total
    if name == "vpt_flow":
        vpt = ta.volume.VolumePriceTrendIndicator(close, volume).volume_price_trend()
        return flows["vpt_flow"], vpt.diff(20) / total
    ratio = volume / volume.rolling(20).mean()
    return flows["volume_ratio"], ratio


REFERENCE_NAMES = [
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_middle",
    "bb_upper",
    "bb_lower",
    "bb_percent_b",
    "bb_bandwidth",
    "sma_10",
    "sma_21",
    "stoch_k",
    "stoch_d",
    "williams_r",
    "tenkan",
    "kijun",
    "span_a",
    "span_b",
    "adx",
    "plus_di",
    "minus_di",
    "atr",
    "cci",
    "obv_flow",
    "vpt_flow",
    "volume_ratio",
]


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_indicator_matches_ta_library_on_shipped_btc(hlcv, name):
    ours, theirs = _ours_and_ta(name, *hlcv)
    ours = np.asarray(ours, dtype="float64")[WARM:]
    theirs = np.asarray(theirs, dtype="float64")[WARM:]
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module", params=["BTC", "ETH", "XRP"])
def shipped_arrays(request):
    """(high, low, close) float64 arrays of a shipped pair's full history."""
    candles = load_candles(request.param, "shipped")
    return tuple(candles[c].to_numpy(dtype="float64") for c in ("high", "low", "close"))


def test_parabolic_sar_matches_talib_from_its_first_row(shipped_arrays):
    high, low, _ = shipped_arrays
    ours = ind.parabolic_sar(pd.Series(high), pd.Series(low), 0.02, 0.2)
    theirs = talib.SAR(high, low, acceleration=0.02, maximum=0.2)
    assert np.isnan(theirs[0]) and ours.iloc[0].isna().all()  # bar 0 only seeds the first trend
    # TA-Lib's compiled C fuses `sar + af * (ep - sar)` into one multiply-add (a single
    # rounding), so values may differ in the last bit; the trend decisions are identical.
    np.testing.assert_allclose(ours["sar"].to_numpy()[1:], theirs[1:], rtol=1e-15, atol=1e-9)


def test_parabolic_sar_trend_names_the_side_of_the_bar_it_lies_on(shipped_arrays):
    high, low, _ = shipped_arrays
    sar, trend, factor = ind.parabolic_sar_values(high, low)
    assert np.array_equal(trend[1:] > 0, sar[1:] <= low[1:])
    assert (sar[1:][trend[1:] < 0] >= high[1:][trend[1:] < 0]).all()
    steps = factor[1:] / 0.02  # af moves in steps of 0.02 from 0.02 to 0.2
    np.testing.assert_allclose(steps, np.clip(np.round(steps), 1, 10), atol=1e-9)


def _talib_pairs(high, low, close):
    """{name: (ours, TA-Lib's)} for the indicators both libraries define the same way."""
    h, lo, c = high.to_numpy(), low.to_numpy(), close.to_numpy()
    macd, bands = ind.macd(close, 12, 26, 9), ind.bollinger(close, 20, 2.0)
    stoch, directional = ind.stochastic(high, low, close, 14, 3), ind.adx(high, low, close, 14)
    ref_macd, ref_bands = talib.MACD(c, 12, 26, 9), talib.BBANDS(c, 20, 2.0, 2.0, 0)
    ref_stoch = talib.STOCHF(h, lo, c, fastk_period=14, fastd_period=3, fastd_matype=0)
    return {
        "rsi": (ind.rsi(close, 14), talib.RSI(c, 14)),
        "macd": (macd["macd"], ref_macd[0]),
        "macd_signal": (macd["macd_signal"], ref_macd[1]),
        "macd_hist": (macd["macd_hist"], ref_macd[2]),
        "bb_upper": (bands["bb_upper"], ref_bands[0]),
        "bb_middle": (bands["bb_middle"], ref_bands[1]),
        "bb_lower": (bands["bb_lower"], ref_bands[2]),
        "sma_10": (ind.sma(close, 10), talib.SMA(c, 10)),
        "sma_21": (ind.sma(close, 21), talib.SMA(c, 21)),
        "ema_12": (ind.ema(close, 12), talib.EMA(c, 12)),
        "ema_26": (ind.ema(close, 26), talib.EMA(c, 26)),
        "stoch_k": (stoch["stoch_k"], ref_stoch[0]),
        "stoch_d": (stoch["stoch_d"], ref_stoch[1]),
        "williams_r": (ind.williams_r(high, low, close, 14), talib.WILLR(h, lo, c, 14)),
        "adx": (directional["adx"], talib.ADX(h, lo, c, 14)),
        "plus_di": (directional["plus_di"], talib.PLUS_DI(h, lo, c, 14)),
        "minus_di": (directional["minus_di"], talib.MINUS_DI(h, lo, c, 14)),
        "atr": (directional["atr"], talib.ATR(h, lo, c, 14)),
        "cci": (ind.cci(high, low, close, 20, 0.015), talib.CCI(h, lo, c, 20)),
    }


def test_indicators_match_talib_after_the_warmup_on_shipped_btc(hlcv):
    """TA-Lib seeds its averages with an SMA, we with the first value: equal after the warm-up."""
    for name, (ours, theirs) in _talib_pairs(*hlcv[:3]).items():
        ours = np.asarray(ours, dtype="float64")[WARM:]
        np.testing.assert_allclose(ours, theirs[WARM:], rtol=1e-12, atol=1e-9, err_msg=name)


def test_ichimoku_spans_are_causal_unlike_ta_visual_shift(btc_candles):
    """ta's visual=True shifts the spans forward and fills the gap with the whole-series mean."""

    def ours(candles):
        return ind.ichimoku(candles["high"], candles["low"])[["span_a", "span_b"]]

    def visual(candles):
        ref = ta.trend.IchimokuIndicator(candles["high"], candles["low"], visual=True)
        return pd.DataFrame({"span_a": ref.ichimoku_a(), "span_b": ref.ichimoku_b()})

    cutoffs = [300, 900]
    assert lookahead_violations(ours, btc_candles, cutoffs).empty
    leaks = lookahead_violations(visual, btc_candles, cutoffs)
    assert set(leaks["column"]) == {"span_a", "span_b"}


@st.composite
def candle_frames(draw, min_rows=20, max_rows=120):
    """Valid random candles: positive prices, high/low bracketing open/close, flat stretches."""
    rows = draw(st.integers(min_rows, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-4, 1.0, 5e4]))
    vol = draw(st.floats(0.0005, 0.1))
    steps = rng.normal(0.0, vol, rows) * (rng.random(rows) > draw(st.floats(0.0, 0.6)))
    close = scale * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0.0, vol / 4, rows))
    wick = np.abs(rng.normal(0.0, vol / 2, (2, rows))) * (rng.random((2, rows)) > 0.3)
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.exponential(100.0, rows) * (rng.random(rows) > 0.1)
    index = pd.date_range("2021-03-01", periods=rows, freq="h", tz="UTC", name="open_time")
    frame = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(frame, index=index)


def _in_range(series, low, high):
    values = series.dropna().to_numpy()
    return bool(((values >= low - 1e-9) & (values <= high + 1e-9)).all())


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_oscillators_stay_in_their_ranges(candles):
    high, low, close = candles["high"], candles["low"], candles["close"]
    stoch = ind.stochastic(high, low, close)
    directional = ind.adx(high, low, close)
    assert _in_range(ind.rsi(close), 0.0, 100.0)
    assert _in_range(stoch["stoch_k"], 0.0, 100.0)
    assert _in_range(stoch["stoch_d"], 0.0, 100.0)
    assert _in_range(ind.williams_r(high, low, close), -100.0, 0.0)
    for column in ("adx", "plus_di", "minus_di"):
        assert _in_range(directional[column], 0.0, 100.0)
    assert _in_range(ind.volume_indicators(close, candles["volume"])["obv_flow"], -1.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_bollinger_percent_b_places_the_close_between_the_bands(candles):
    close = candles["close"]
    bands = ind.bollinger(close).dropna()
    width = bands["bb_upper"] - bands["bb_lower"]
    open_band = width > 1e-9 * bands["bb_middle"]
    rebuilt = bands["bb_lower"] + bands["bb_percent_b"] * width
    np.testing.assert_allclose(rebuilt[open_band], close[bands.index][open_band], rtol=1e-9)
    assert (bands.loc[width == 0.0, "bb_percent_b"] == 0.5).all()
    assert (bands["bb_bandwidth"] >= 0.0).all()


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_indicators_have_no_infinities_and_nan_only_at_the_start(candles):
    high, low, close, volume = (candles[c] for c in ("high", "low", "close", "volume"))
    outputs = pd.concat(
        [
            ind.rsi(close).rename("rsi"),
            ind.macd(close),
            ind.bollinger(close),
            ind.volume_indicators(close, volume),
            ind.stochastic(high, low, close),
            ind.williams_r(high, low, close).rename("williams_r"),
            ind.ichimoku(high, low),
            ind.adx(high, low, close),
            ind.cci(high, low, close).rename("cci"),
            ind.parabolic_sar(high, low),
        ],
        axis=1,
    )
    values = outputs.to_numpy()
    assert not np.isinf(values).any()
    for column in outputs.columns:
        defined = outputs[column].notna().to_numpy()
        # once a column has a value it keeps having one
        assert not defined.any() or defined[int(np.argmax(defined)) :].all(), column


@settings(max_examples=100, deadline=None)
@given(candle_frames(min_rows=2, max_rows=60))
def test_parabolic_sar_stays_on_the_right_side_of_the_bar(candles):
    """Below the low in an uptrend, above the high in a downtrend, on every bar after the first.

    Wilder's rule guarantees it: a bar that touches the SAR reverses the trend, and the reversal
    SAR is pushed beyond the bar. (The `ta` variant this replaced could put it inside the bar.)
    """
    sar = ind.parabolic_sar(candles["high"], candles["low"]).iloc[1:]
    high, low = candles["high"].iloc[1:], candles["low"].iloc[1:]
    up = sar["trend"] > 0
    assert set(np.unique(sar["trend"])) <= {-1.0, 1.0}
    assert (sar["sar"][up] <= low[up]).all()
    assert (sar["sar"][~up] >= high[~up]).all()
    assert ((sar["af"] >= 0.02) & (sar["af"] <= 0.2)).all()


@settings(max_examples=100, deadline=None)
@given(
    candle_frames(min_rows=2, max_rows=60), st.sampled_from([(0.02, 0.2), (0.05, 0.1), (0.3, 0.2)])
)
def test_parabolic_sar_matches_talib_on_random_candles(candles, steps):
    high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
    sar, _, _ = ind.parabolic_sar_values(high, low, *steps)
    theirs = talib.SAR(high, low, acceleration=steps[0], maximum=steps[1])
    np.testing.assert_allclose(sar[1:], theirs[1:], rtol=1e-14)


def test_flat_window_gives_neutral_values_not_nan():
    index = pd.date_range("2021-01-01", periods=80, freq="h", tz="UTC")
    flat = pd.Series(100.0, index=index)
    assert ind.rsi(flat).iloc[-1] == 50.0
    assert ind.stochastic(flat, flat, flat)["stoch_k"].iloc[-1] == 50.0
    assert ind.williams_r(flat, flat, flat).iloc[-1] == -50.0
    assert ind.bollinger(flat)["bb_percent_b"].iloc[-1] == 0.5
    assert ind.cci(flat, flat, flat).iloc[-1] == 0.0
    assert ind.adx(flat, flat, flat)["adx"].iloc[-1] == 0.0


def test_rolling_std_matches_pandas_population_std(btc_candles):
    close = btc_candles["close"]
    ours = ind.rolling_std(close, 20)
    theirs = close.rolling(20).std(ddof=0)
    np.testing.assert_allclose(ours[19:], theirs[19:], rtol=1e-9)
    assert ours.iloc[:19].isna().all()
