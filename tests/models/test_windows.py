from __future__ import annotations

import numpy as np
import pytest

from mlpkg.errors import ConfigError
from mlpkg.models.windows import split_targets, windows_at


def test_windows_at_returns_the_float32_windows_ending_at_the_given_rows():
    values = np.arange(20, dtype=float).reshape(10, 2)
    windows = windows_at(values, np.array([2, 7, 9]), 3)

    assert windows.shape == (3, 3, 2) and windows.dtype == np.float32
    for window, end in zip(windows, (2, 7, 9), strict=True):
        np.testing.assert_array_equal(window, values[end - 2 : end + 1])


def test_split_targets_matches_the_window_split_without_nan_labels():
    # 20 rows, window 5: windows end at rows 4..19 (16 targets); tail ceil(0.25 * 16) = 4
    # (rows 16..19); purge 2 drops rows 14, 15; training targets are rows 4..13.
    split = split_targets(np.zeros(20), first_row=4, validation_fraction=0.25, purge=2)

    np.testing.assert_array_equal(split.validation, [16, 17, 18, 19])
    np.testing.assert_array_equal(split.train, np.arange(4, 14))
    assert split.train_rows == 14


def test_split_targets_skips_nan_labels_everywhere():
    target = np.zeros(20)
    target[[6, 7, 17]] = np.nan
    target[-2:] = np.nan  # unlabelled tail
    split = split_targets(target, first_row=4, validation_fraction=0.25, purge=1)

    # labelled candidates: 4, 5, 8..16 (11 rows); tail ceil(2.75) = 3 -> rows 14, 15, 16
    np.testing.assert_array_equal(split.validation, [14, 15, 16])
    np.testing.assert_array_equal(split.train, [4, 5, 8, 9, 10, 11, 12])
    assert split.train_rows == 13


def test_split_targets_without_validation_uses_every_labelled_row():
    target = np.zeros(10)
    target[[0, 9]] = np.nan
    split = split_targets(target, first_row=2, validation_fraction=0.0, purge=3)

    assert len(split.validation) == 0
    np.testing.assert_array_equal(split.train, np.arange(2, 9))
    assert split.train_rows == 9


def test_split_targets_with_too_few_rows_raises_config_error():
    with pytest.raises(ConfigError, match=r"Too few rows.*purge of 2"):
        split_targets(np.zeros(8), first_row=4, validation_fraction=0.2, purge=2)
