"""Indicator kernels (NumPy): the pandas reference, `ta`, TA-Lib, and hypothesis bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from support import candles_around

from mlpkg.config import FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features import indicators as ind
from mlpkg.features.build import warmup_rows
from mlpkg.features.lookahead import lookahead_violations

from . import reference_indicators as ref

WARM = warmup_rows(FeatureConfig())


@pytest.fixture(scope="module")
def hlcv(btc_candles):
    """BTC columns on a RangeIndex: ta's Parabolic SAR indexes by label in one branch."""
    frame = btc_candles.reset_index(drop=True)
    return frame["high"], frame["low"], frame["close"], frame["volume"]


def _kernels(high, low, close, volume, rows=None) -> dict[str, np.ndarray]:
    """Every output of the NumPy kernels, by name (the last ``rows`` rows; all by default)."""
    h, lo, c, v = (np.asarray(x, dtype="float64") for x in (high, low, close, volume))
    macd = ind.macd(c, 12, 26, 9, rows=rows)
    sar, trend, factor = ind.parabolic_sar_values(h, lo)
    count = len(c) if rows is None else rows
    return {
        "rsi": ind.rsi(c, 14, rows),
        **{k: macd[k] for k in ("macd", "macd_signal", "macd_hist")},
        "ema_12": macd["ema_fast"],
        "ema_26": macd["ema_slow"],
        **ind.bollinger(c, 20, 2.0, rows),
        "sma_10": ind.sma(c, 10, rows),
        "sma_21": ind.sma(c, 21, rows),
        **ind.volume_indicators(c, v, 20, rows),
        **ind.stochastic(h, lo, c, 14, 3, rows),
        "williams_r": ind.williams_r(h, lo, c, 14, rows),
        **ind.ichimoku(h, lo, 9, 26, 52, rows),
        **ind.adx(h, lo, c, 14, rows),
        "cci": ind.cci(h, lo, c, 20, 0.015, rows),
        "sar": sar[len(c) - count :],
        "trend": trend[len(c) - count :],
        "af": factor[len(c) - count :],
    }


def _reference(high, low, close, volume) -> dict[str, np.ndarray]:
    """The same outputs from the pandas reference (``reference_indicators``), every row."""
    macd = ref.macd(close, 12, 26, 9)
    frames = [
        macd,
        ref.bollinger(close, 20, 2.0),
        ref.volume_indicators(close, volume, 20),
        ref.stochastic(high, low, close, 14, 3),
        ref.ichimoku(high, low, 9, 26, 52),
        ref.adx(high, low, close, 14),
    ]
    series = {
        "rsi": ref.rsi(close, 14),
        "ema_12": ref.ema(close, 12),
        "ema_26": ref.ema(close, 26),
        "sma_10": ref.sma(close, 10),
        "sma_21": ref.sma(close, 21),
        "williams_r": ref.williams_r(high, low, close, 14),
        "cci": ref.cci(high, low, close, 20, 0.015),
    }
    columns = {name: frame[name] for frame in frames for name in frame.columns}
    return {name: s.to_numpy(dtype="float64") for name, s in {**columns, **series}.items()}


def test_kernels_equal_the_pandas_reference_on_every_row(hlcv):
    """Same NaN rows (pandas' ``min_periods``), and values equal to rounding on the others."""
    ours, theirs = _kernels(*hlcv), _reference(*hlcv)
    assert set(theirs) <= set(ours)
    for name, expected in theirs.items():
        assert np.array_equal(np.isnan(ours[name]), np.isnan(expected)), name
        np.testing.assert_allclose(ours[name], expected, rtol=1e-12, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("rows", [1, 60, 600])
def test_kernels_on_the_last_rows_equal_their_every_row_values(hlcv, rows):
    """Asked for the last n rows of the same candles, each kernel gives its every-row values."""
    full, last = _kernels(*hlcv), _kernels(*hlcv, rows=rows)
    for name, values in last.items():
        assert values.shape == (rows,), name
        np.testing.assert_allclose(values, full[name][-rows:], rtol=1e-13, atol=1e-12)


def _ta(name, high, low, close, volume):
    """`ta`'s series for one output name."""
    if name == "rsi":
        return ta.momentum.RSIIndicator(close, 14).rsi()
    if name in {"macd", "macd_signal", "macd_hist"}:
        macd = ta.trend.MACD(close, 26, 12, 9)
        return {"macd": macd.macd, "macd_signal": macd.macd_signal, "macd_hist": macd.macd_diff}[
            name
        ]()
    if name.startswith("bb_"):
        bands = ta.volatility.BollingerBands(close, 20, 2)
        return {
            "bb_middle": bands.bollinger_mavg,
            "bb_upper": bands.bollinger_hband,
            "bb_lower": bands.bollinger_lband,
            "bb_percent_b": bands.bollinger_pband,
            "bb_bandwidth": lambda: bands.bollinger_wband() / 100.0,  # ta gives percent
        }[name]()
    if name in {"sma_10", "sma_21"}:
        return ta.trend.SMAIndicator(close, int(name.split("_")[1])).sma_indicator()
    if name in {"stoch_k", "stoch_d"}:
        stoch = ta.momentum.StochasticOscillator(high, low, close, 14, 3)
        return stoch.stoch() if name == "stoch_k" else stoch.stoch_signal()
    if name == "williams_r":
        return ta.momentum.WilliamsRIndicator(high, low, close, 14).williams_r()
    return _more_ta(name, high, low, close, volume)


def _more_ta(name, high, low, close, volume):
    if name in {"tenkan", "kijun", "span_a", "span_b"}:
        cloud = ta.trend.IchimokuIndicator(high, low, 9, 26, 52, visual=False)
        return {
            "tenkan": cloud.ichimoku_conversion_line,
            "kijun": cloud.ichimoku_base_line,
            "span_a": cloud.ichimoku_a,
            "span_b": cloud.ichimoku_b,
        }[name]()
    if name in {"adx", "plus_di", "minus_di"}:
        directional = ta.trend.ADXIndicator(high, low, close, 14)
        return {"adx": directional.adx, "plus_di": directional.adx_pos}.get(
            name, directional.adx_neg
        )()
    if name == "atr":
        return ta.volatility.AverageTrueRange(high, low, close, 14).average_true_range()
    if name == "cci":
        return ta.trend.CCIIndicator(high, low, close).cci()
    total = volume.rolling(20).sum()
    if name == "obv_flow":
        # ta's OBV counts an unchanged close as +volume; ours counts it as 0.
        ties = volume.where(close.diff() == 0.0, 0.0).rolling(20).sum()
        obv = ta.volume.OnBalanceVolumeIndicator(close, volume).on_balance_volume()
        return (obv.diff(20) - ties) / total
    if name == "vpt_flow":
        vpt = ta.volume.VolumePriceTrendIndicator(close, volume).volume_price_trend()
        return vpt.diff(20) / total
    return volume / volume.rolling(20).mean()  # volume_ratio


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


@pytest.fixture(scope="module")
def kernels_btc(hlcv):
    return _kernels(*hlcv)


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_indicator_matches_ta_library_on_shipped_btc(hlcv, kernels_btc, name):
    ours = kernels_btc[name][WARM:]
    theirs = np.asarray(_ta(name, *hlcv), dtype="float64")[WARM:]
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module", params=["BTC", "ETH", "XRP"])
def shipped_arrays(request):
    """(high, low, close) float64 arrays of a shipped pair's full history."""
    candles = load_candles(request.param, "shipped")
    return tuple(candles[c].to_numpy(dtype="float64") for c in ("high", "low", "close"))


def test_parabolic_sar_matches_talib_from_its_first_row(shipped_arrays):
    high, low, _ = shipped_arrays
    sar, trend, factor = ind.parabolic_sar_values(high, low, 0.02, 0.2)
    theirs = talib.SAR(high, low, acceleration=0.02, maximum=0.2)
    # bar 0 only seeds the first trend
    assert np.isnan(theirs[0]) and np.isnan([sar[0], trend[0], factor[0]]).all()
    # TA-Lib's compiled C fuses `sar + af * (ep - sar)` into one multiply-add (a single
    # rounding), so values may differ in the last bit; the trend decisions are identical.
    np.testing.assert_allclose(sar[1:], theirs[1:], rtol=1e-15, atol=1e-9)


def test_parabolic_sar_trend_names_the_side_of_the_bar_it_lies_on(shipped_arrays):
    high, low, _ = shipped_arrays
    sar, trend, factor = ind.parabolic_sar_values(high, low)
    assert np.array_equal(trend[1:] > 0, sar[1:] <= low[1:])
    assert (sar[1:][trend[1:] < 0] >= high[1:][trend[1:] < 0]).all()
    steps = factor[1:] / 0.02  # af moves in steps of 0.02 from 0.02 to 0.2
    np.testing.assert_allclose(steps, np.clip(np.round(steps), 1, 10), atol=1e-9)


def _talib(name, h, lo, c):
    """TA-Lib's array for the outputs both libraries define the same way."""
    if name.startswith("macd"):
        return talib.MACD(c, 12, 26, 9)[["macd", "macd_signal", "macd_hist"].index(name)]
    if name.startswith("bb_"):
        return talib.BBANDS(c, 20, 2.0, 2.0, 0)[["bb_upper", "bb_middle", "bb_lower"].index(name)]
    if name.startswith("stoch"):
        stoch = talib.STOCHF(h, lo, c, fastk_period=14, fastd_period=3, fastd_matype=0)
        return stoch[0 if name == "stoch_k" else 1]
    calls = {
        "rsi": lambda: talib.RSI(c, 14),
        "sma_10": lambda: talib.SMA(c, 10),
        "sma_21": lambda: talib.SMA(c, 21),
        "ema_12": lambda: talib.EMA(c, 12),
        "ema_26": lambda: talib.EMA(c, 26),
        "williams_r": lambda: talib.WILLR(h, lo, c, 14),
        "adx": lambda: talib.ADX(h, lo, c, 14),
        "plus_di": lambda: talib.PLUS_DI(h, lo, c, 14),
        "minus_di": lambda: talib.MINUS_DI(h, lo, c, 14),
        "atr": lambda: talib.ATR(h, lo, c, 14),
        "cci": lambda: talib.CCI(h, lo, c, 20),
    }
    return calls[name]()


TALIB_NAMES = [
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "sma_10",
    "sma_21",
    "ema_12",
    "ema_26",
    "stoch_k",
    "stoch_d",
    "williams_r",
    "adx",
    "plus_di",
    "minus_di",
    "atr",
    "cci",
]


def test_indicators_match_talib_after_the_warmup_on_shipped_btc(hlcv, kernels_btc):
    """TA-Lib seeds its averages with an SMA, we with the first value: equal after the warm-up."""
    h, lo, c = (s.to_numpy(dtype="float64") for s in hlcv[:3])
    for name in TALIB_NAMES:
        theirs = _talib(name, h, lo, c)[WARM:]
        ours = kernels_btc[name][WARM:]
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-9, err_msg=name)


def test_ichimoku_spans_are_causal_unlike_ta_visual_shift(btc_candles):
    """ta's visual=True shifts the spans forward and fills the gap with the whole-series mean."""

    def ours(candles):
        high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
        cloud = ind.ichimoku(high, low)
        return pd.DataFrame({k: cloud[k] for k in ("span_a", "span_b")}, index=candles.index)

    def visual(candles):
        cloud = ta.trend.IchimokuIndicator(candles["high"], candles["low"], visual=True)
        return pd.DataFrame({"span_a": cloud.ichimoku_a(), "span_b": cloud.ichimoku_b()})

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
    return candles_around(
        rng,
        open_,
        close,
        vol=vol,
        wick_share=0.3,
        volume_mean=100.0,
        zero_volume_share=0.1,
        start="2021-03-01",
    )


def _columns(candles, rows=None):
    return _kernels(*(candles[c] for c in ("high", "low", "close", "volume")), rows=rows)


def _in_range(values, low, high):
    values = values[~np.isnan(values)]
    return bool(((values >= low - 1e-9) & (values <= high + 1e-9)).all())


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_oscillators_stay_in_their_ranges(candles):
    out = _columns(candles)
    for name in ("rsi", "stoch_k", "stoch_d", "adx", "plus_di", "minus_di"):
        assert _in_range(out[name], 0.0, 100.0), name
    assert _in_range(out["williams_r"], -100.0, 0.0)
    assert _in_range(out["obv_flow"], -1.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(candle_frames(min_rows=1, max_rows=80))
def test_kernels_equal_the_pandas_reference_on_random_candles(candles):
    """Flat stretches, zero volumes and histories shorter than a window, rows 1 to 80."""
    high, low, close, volume = (candles[c] for c in ("high", "low", "close", "volume"))
    ours, theirs = _columns(candles), _reference(high, low, close, volume)
    for name, expected in theirs.items():
        assert np.array_equal(np.isnan(ours[name]), np.isnan(expected)), name
        scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
        np.testing.assert_allclose(ours[name], expected, rtol=1e-9, atol=1e-9 * scale)


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_bollinger_percent_b_places_the_close_between_the_bands(candles):
    close = candles["close"].to_numpy()
    bands = ind.bollinger(close)
    defined = ~np.isnan(bands["bb_middle"])
    width = (bands["bb_upper"] - bands["bb_lower"])[defined]
    open_band = width > 1e-9 * bands["bb_middle"][defined]
    rebuilt = bands["bb_lower"][defined] + bands["bb_percent_b"][defined] * width
    np.testing.assert_allclose(rebuilt[open_band], close[defined][open_band], rtol=1e-9)
    assert (bands["bb_percent_b"][defined][width == 0.0] == 0.5).all()
    assert (bands["bb_bandwidth"][defined] >= 0.0).all()


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_indicators_have_no_infinities_and_nan_only_at_the_start(candles):
    for name, values in _columns(candles).items():
        assert not np.isinf(values).any(), name
        defined = ~np.isnan(values)
        # once a column has a value it keeps having one
        assert not defined.any() or defined[int(np.argmax(defined)) :].all(), name


@settings(max_examples=100, deadline=None)
@given(candle_frames(min_rows=2, max_rows=60))
def test_parabolic_sar_stays_on_the_right_side_of_the_bar(candles):
    """Below the low in an uptrend, above the high in a downtrend, on every bar after the first.

    Wilder's rule guarantees it: a bar that touches the SAR reverses the trend, and the reversal
    SAR is pushed beyond the bar. (The `ta` variant this replaced could put it inside the bar.)
    """
    high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
    sar, trend, factor = (v[1:] for v in ind.parabolic_sar_values(high, low))
    up = trend > 0
    assert set(np.unique(trend)) <= {-1.0, 1.0}
    assert (sar[up] <= low[1:][up]).all()
    assert (sar[~up] >= high[1:][~up]).all()
    assert ((factor >= 0.02) & (factor <= 0.2)).all()


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
    flat = np.full(80, 100.0)
    assert ind.rsi(flat)[-1] == 50.0
    assert ind.stochastic(flat, flat, flat)["stoch_k"][-1] == 50.0
    assert ind.williams_r(flat, flat, flat)[-1] == -50.0
    assert ind.bollinger(flat)["bb_percent_b"][-1] == 0.5
    assert ind.cci(flat, flat, flat)[-1] == 0.0
    assert ind.adx(flat, flat, flat)["adx"][-1] == 0.0
