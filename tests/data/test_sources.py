"""Loading candles: shipped files (checksummed), user files (CSV, CSV.GZ, Parquet), summaries."""

from __future__ import annotations

import gzip
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import SHIPPED_PAIRS, Settings
from mlpkg.data import sources
from mlpkg.data.schema import CANDLE_COLUMNS, find_gaps, validate_candles
from mlpkg.data.sources import (
    candles_checksum,
    describe_candles,
    load_candles,
    load_shipped,
    read_candle_file,
)
from mlpkg.errors import CandleValidationError, ConfigError, DataSourceError, UnknownPairError


@pytest.fixture
def small(btc_candles) -> pd.DataFrame:
    return btc_candles.iloc[:50].copy()


def _as_file_table(candles: pd.DataFrame, epoch_ms: bool = False) -> pd.DataFrame:
    table = candles.reset_index()
    if epoch_ms:
        table["open_time"] = table["open_time"].astype("int64") // 1_000
    else:
        table["open_time"] = table["open_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return table


@pytest.mark.parametrize("pair", SHIPPED_PAIRS)
def test_every_shipped_pair_loads_two_years_of_hourly_candles(pair):
    candles = load_shipped(pair)
    assert 17_400 <= len(candles) <= 17_521
    assert candles.index[0] == pd.Timestamp("2017-10-01", tz="UTC")
    assert candles.index[-1] == pd.Timestamp("2019-10-01", tz="UTC")
    assert describe_candles(candles)["interval"] == pd.Timedelta("1h")
    assert list(candles.columns) == list(CANDLE_COLUMNS)
    assert (candles.dtypes == "float64").all()
    pd.testing.assert_frame_equal(validate_candles(candles), candles)


def test_load_candles_normalises_the_pair_and_matches_the_shipped_file(btc_full):
    candles = load_candles("btc_usdt", "shipped", Settings())
    pd.testing.assert_frame_equal(candles, btc_full)


def test_unknown_shipped_pair_lists_shipped_pairs_and_the_file_route():
    with pytest.raises(UnknownPairError) as err:
        load_candles("XMR", "shipped", Settings())
    message = str(err.value)
    assert "BTC, ETH, LTC, XRP, EOS" in message
    assert "data/XMR.csv" in message
    assert "MLPKG_DATA_SOURCE=file" in message


def test_unknown_source_is_a_config_error():
    with pytest.raises(ConfigError, match="'shipped', 'file', 'core' or 'replay'"):
        load_candles("BTC", "s3", Settings())  # type: ignore[arg-type]


def _copy_datasets(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    root = resources.files("mlpkg.datasets")
    for name in ("SHA256SUMS", "BTCUSD_1h.csv.gz"):
        (folder / name).write_bytes((root / name).read_bytes())
    return folder


def test_shipped_checksum_catches_a_corrupted_file(tmp_path, monkeypatch):
    folder = _copy_datasets(tmp_path)
    monkeypatch.setattr(sources, "_datasets_root", lambda: folder)
    assert len(load_shipped("BTC")) > 17_000, "an intact copy loads"
    data = bytearray((folder / "BTCUSD_1h.csv.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "BTCUSD_1h.csv.gz").write_bytes(bytes(data))
    with pytest.raises(DataSourceError, match=r"BTCUSD_1h\.csv\.gz is corrupt.*[Rr]einstall"):
        load_shipped("BTC")


def test_shipped_file_without_a_checksum_entry_is_rejected(tmp_path, monkeypatch):
    folder = _copy_datasets(tmp_path)
    (folder / "SHA256SUMS").write_text("")
    monkeypatch.setattr(sources, "_datasets_root", lambda: folder)
    with pytest.raises(DataSourceError, match=r"no checksum for BTCUSD_1h\.csv\.gz"):
        load_shipped("BTC")


@pytest.mark.parametrize("epoch_ms", [False, True], ids=["iso", "epoch_ms"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_file_source_round_trips(tmp_path, small, suffix, epoch_ms):
    table = _as_file_table(small, epoch_ms=epoch_ms)
    path = tmp_path / f"BTC{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    settings = Settings(home=tmp_path, data_dir=".")
    loaded = load_candles("BTC", "file", settings)
    pd.testing.assert_frame_equal(loaded, small)
    assert candles_checksum(loaded) == candles_checksum(small)


def test_file_with_naive_iso_times_mixed_case_columns_and_extras(tmp_path, small):
    table = small.reset_index()
    table["open_time"] = table["open_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    table = table.rename(columns=str.title).assign(Trades=3)
    path = tmp_path / "btc.csv"
    table.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_candle_file(path), small)


def test_file_with_offset_times_is_converted_to_utc(tmp_path, small):
    table = small.reset_index()
    table["open_time"] = table["open_time"].dt.tz_convert("Asia/Tokyo").map(lambda t: t.isoformat())
    path = tmp_path / "BTC.csv"
    table.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_candle_file(path), small)


def test_parquet_indexed_by_open_time_is_accepted(tmp_path, small):
    path = tmp_path / "BTC.parquet"
    small.to_parquet(path)
    pd.testing.assert_frame_equal(read_candle_file(path), small)


def test_missing_file_says_where_it_looked_and_the_expected_name(tmp_path):
    settings = Settings(home=tmp_path, data_dir="data")
    with pytest.raises(DataSourceError) as err:
        load_candles("eth", "file", settings)
    message = str(err.value)
    assert str(tmp_path / "data") in message
    assert "data/ETH.csv" in message and "data/ETH.parquet" in message


def test_read_candle_file_missing_path(tmp_path):
    with pytest.raises(DataSourceError, match=r"not found.*data/<PAIR>\.csv"):
        read_candle_file(tmp_path / "nope.csv")


def test_unsupported_suffix_is_rejected(tmp_path):
    path = tmp_path / "BTC.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataSourceError, match=r"\.csv, \.csv\.gz or \.parquet"):
        read_candle_file(path)


def test_wrong_columns_list_expected_and_found(tmp_path, small):
    path = tmp_path / "BTC.csv"
    _as_file_table(small).rename(columns={"volume": "vol"}).to_csv(path, index=False)
    with pytest.raises(DataSourceError) as err:
        read_candle_file(path)
    message = str(err.value)
    assert "Expected open_time, open, high, low, close, volume" in message
    assert "found open_time, open, high, low, close, vol" in message
    assert "missing: volume" in message


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_garbage_bytes_give_a_clear_error(tmp_path, suffix):
    path = tmp_path / f"BTC{suffix}"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataSourceError, match=rf"Cannot read candle file .*BTC{suffix}"):
        read_candle_file(path)


def test_garbage_text_csv_reports_wrong_columns(tmp_path):
    path = tmp_path / "BTC.csv"
    path.write_text("hello world\nthis is not a candle file\n")
    with pytest.raises(DataSourceError, match="wrong columns"):
        read_candle_file(path)


def test_unparseable_open_time_is_reported(tmp_path, small):
    table = _as_file_table(small)
    table.loc[3, "open_time"] = "yesterday"
    path = tmp_path / "BTC.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataSourceError, match="open_time must hold ISO-8601"):
        read_candle_file(path)


def test_epoch_seconds_are_rejected_with_the_fix(tmp_path, small):
    table = _as_file_table(small, epoch_ms=True)
    table["open_time"] //= 1_000
    path = tmp_path / "BTC.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataSourceError, match=r"look like epoch seconds.*milliseconds"):
        read_candle_file(path)


def _write_gz(path, table):
    with gzip.open(path, "wt") as fh:
        table.to_csv(fh, index=False)


def test_file_with_a_nan_names_the_row(tmp_path, small):
    table = _as_file_table(small)
    table.loc[7, "close"] = np.nan
    path = tmp_path / "BTC.csv.gz"
    _write_gz(path, table)
    with pytest.raises(CandleValidationError) as err:
        read_candle_file(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert f"column 'close' is nan at row 7 (open_time {small.index[7]})" in message


def test_file_with_unsorted_rows_names_the_row(tmp_path, small):
    table = _as_file_table(small).iloc[[0, 1, 2, 4, 3, *range(5, 50)]]
    path = tmp_path / "BTC.csv"
    table.to_csv(path, index=False)
    with pytest.raises(CandleValidationError, match=r"not sorted: row 4 \(open_time"):
        read_candle_file(path)


def test_file_with_duplicate_rows_names_the_row(tmp_path, small):
    table = _as_file_table(small)
    table = pd.concat([table.iloc[:10], table.iloc[[9]], table.iloc[10:]], ignore_index=True)
    path = tmp_path / "BTC.parquet"
    table.to_parquet(path)
    with pytest.raises(CandleValidationError, match=r"duplicate timestamp at row 10 \(open_time"):
        read_candle_file(path)


def test_candles_checksum_is_deterministic_and_sensitive(small):
    digest = candles_checksum(small)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert candles_checksum(small.copy()) == digest
    assert candles_checksum(small.set_axis(small.index.as_unit("ns"))) == digest
    changed = small.copy()
    changed.iloc[10, 3] += 0.01
    assert candles_checksum(changed) != digest
    assert candles_checksum(small.iloc[1:]) != digest
    shifted = small.set_axis(small.index + pd.Timedelta("1h"))
    assert candles_checksum(shifted) != digest


def test_describe_candles_summarises_size_range_and_gaps(btc_full):
    info = describe_candles(btc_full)
    assert info["rows"] == len(btc_full)
    assert info["start"] == btc_full.index[0]
    assert info["end"] == btc_full.index[-1]
    assert info["interval"] == pd.Timedelta("1h")
    assert info["gaps"] == len(find_gaps(btc_full)) == 4
    assert info["missing_candles"] == 7
    assert info["first_close"] == btc_full["close"].iloc[0]
    assert info["last_close"] == btc_full["close"].iloc[-1]


def test_sources_reexports_find_gaps():
    assert sources.find_gaps is find_gaps


def test_shipped_copy_is_not_shared_between_calls():
    first = load_shipped("ETH")
    first.iloc[0, 0] = -1.0
    assert load_shipped("ETH").iloc[0, 0] > 0
