"""Session-shaped real candles: the shipped hourly BTC with the hours a calendar closes dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.data.calendars import get_calendar

HOUR = pd.Timedelta(hours=1)


def session_shaped(candles: pd.DataFrame, calendar: str) -> pd.DataFrame:
    """Keep only the candles that open on a trading bar of ``calendar`` (XNYS: ~7 a day)."""
    ordinals = get_calendar(calendar).bar_ordinals(pd.DatetimeIndex(candles.index), HOUR)
    return candles[np.isfinite(ordinals)].copy()
