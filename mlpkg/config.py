"""Configuration in one typed place.

``Settings`` describes the machine (paths, tracking URI, port, upstream) and reads ``MLPKG_*``
environment variables; ``get_settings()`` caches it. Run settings are frozen pydantic models
(``FeatureConfig``, one ``ModelSection`` per family, ``WalkForwardConfig`` and ``HoldoutConfig``
inside ``RunConfig``) with defaults in code. A family's fields flatten as ``<family>_<field>``
and the other names are unique across the sub-configs, so a run config flattens to one level of
names: those are the notebook parameters and the MLflow params.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlpkg.errors import ConfigError

SHIPPED_PAIRS: tuple[str, ...] = ("BTC", "ETH", "LTC", "XRP", "EOS")
MARKET = "market"
"""The cross asset that stands for the equal-weight return of ``market_pairs``."""
PAIR_PATTERN = re.compile(r"^[A-Z0-9]{2,15}$")
_QUOTE_SUFFIX = re.compile(r"(?P<base>.*?)(?P<separator>[-_/]?)(?:USDT|USD)")
USD_TOKENS: frozenset[str] = frozenset(
    {
        *("AUSD", "BUSD", "CUSD", "DUSD", "EUSD", "GUSD", "HUSD", "LUSD", "MUSD", "OUSD"),
        *("SUSD", "TUSD", "ZUSD", "ALUSD", "DEUSD", "FDUSD", "FXUSD", "MKUSD", "PYUSD"),
        *("RLUSD", "LISUSD"),
    }
)
"""USD-denominated tokens whose symbol ends in USD: ``normalize_pair`` never splits them."""
DataSourceName = Literal["shipped", "file", "core", "replay"]


def normalize_pair(pair: str) -> str:
    """Return the canonical pair name, the upper-case base symbol (``btc_usdt`` -> ``BTC``).

    The name is trimmed and upper-cased. At most one USD or USDT quote is then removed from
    its end:

    - after a separator (``-``, ``_`` or ``/``) it is always a quote: ``BTC_USDT``,
      ``BTC-USD``, ``BTC/USDT`` -> ``BTC``, and ``FDUSD-USDT`` -> ``FDUSD``;
    - glued to the name it is a quote only if the whole name is not a USD token
      (``USD_TOKENS``) and what remains is itself a valid base symbol: ``BTCUSD``,
      ``ETHUSDT`` -> ``ETH``, ``OPUSDT`` -> ``OP``, ``TUSDUSDT`` -> ``TUSD``, while
      ``TUSD``, ``BUSD``, ``FDUSD``, ``PYUSD`` (listed; a single letter is never a base
      either) and ``USDT``, ``USDC`` stay whole. A USD token missing from the list, such as
      Curve's ``CRVUSD``, reads as base + quote (``CRV``); spell it with a separator
      (``CRVUSD-USD``) to keep it whole.

    Args:
        pair: A pair name such as ``btc``, ``BTC_USDT``, ``BTCUSD`` or ``TUSD``.

    Returns:
        The base symbol: 2-15 upper-case letters or digits.

    Raises:
        ConfigError: if the base is not 2-15 letters/digits (a path, a space, another quote
            such as ``ETH-BTC``, an empty name).
    """
    text = str(pair).strip().upper()
    base = text
    match = _QUOTE_SUFFIX.fullmatch(text)
    if match and (
        match["separator"] or (text not in USD_TOKENS and PAIR_PATTERN.fullmatch(match["base"]))
    ):
        base = match["base"]
    if not PAIR_PATTERN.fullmatch(base):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ConfigError(
            f"Invalid pair {shown!r}: use a base symbol of 2-15 letters or digits such as "
            "'BTC', optionally with a USD or USDT quote ('BTC-USDT')."
        )
    return base


_DURATION_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object, name: str) -> float | None:
    """Seconds of a duration such as ``24h``, ``30m``, ``90s``, ``7d`` or ``3600`` (seconds).

    ``""``, ``0``, ``off``, ``false``, ``no`` and ``none`` mean off (``None``).

    Raises:
        ValueError: for anything else, or a negative duration (a settings error).
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "0", "off", "false", "none", "no"):
        return None
    unit = _DURATION_UNITS.get(text[-1])
    number = text[:-1] if unit is not None else text
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(
            f"{name} {value!r} is not a duration: use e.g. 24h, 30m, 90s, 7d, a number of "
            "seconds, or off"
        )
    return seconds or None


DEFAULT_CALENDAR = "24/7"
"""Every bar is a trading bar (crypto): the calendar of a pair nobody configured."""
DEFAULT_INTERVAL = "1h"
INTERVALS: dict[str, int] = {"15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
"""The candle intervals a run may use, in seconds."""
_CALENDAR_PATTERN = re.compile(
    r"^(24/7|24/5(@([01][0-9]|2[0-3]):[0-5][0-9])?|[A-Z][A-Z0-9_]{1,11})$"
)


DEFAULT_HORIZON = 5
"""Candles ahead of the default model of a pair (``mlpkg-<PAIR>``)."""
_MODEL_KEY = re.compile(
    r"^(?P<pair>[A-Z0-9]{2,15})(-(?P<interval>15m|1h|4h|1d)-h(?P<horizon>\d{1,3}))?$"
)


def model_key(pair: str, interval: str = DEFAULT_INTERVAL, horizon: int = DEFAULT_HORIZON) -> str:
    """The key a pair's model for (interval, horizon) is registered and stored under.

    The default (1 h, h = 5) is the pair itself (``BTC``: ``mlpkg-BTC``); any other is
    ``<PAIR>-<interval>-h<horizon>`` (``BTC-4h-h6``: ``mlpkg-BTC-4h-h6``).
    """
    if (interval, horizon) == (DEFAULT_INTERVAL, DEFAULT_HORIZON):
        return pair
    return f"{pair}-{interval}-h{horizon}"


def split_model_key(key: str) -> tuple[str, str, int] | None:
    """``(pair, interval, horizon)`` of a model key, or ``None`` when it is not one."""
    match = _MODEL_KEY.fullmatch(key)
    if match is None:
        return None
    if match["interval"] is None:
        return match["pair"], DEFAULT_INTERVAL, DEFAULT_HORIZON
    return match["pair"], match["interval"], int(match["horizon"])


def check_calendar(value: object) -> str:
    """Return a calendar name in canonical form: ``24/7``, ``24/5``, ``24/5@HH:MM``, ``XNYS``.

    Raises:
        ValueError: for anything else (exchange codes are checked when first used).
    """
    text = str(value).strip()
    text = text if text.startswith("24/") else text.upper()
    if not _CALENDAR_PATTERN.fullmatch(text):
        raise ValueError(
            f"calendar {value!r} is not one of 24/7, 24/5 (Sunday 22:00 to Friday 22:00 UTC), "
            "24/5@HH:MM (another weekly open/close, UTC) or an exchange code such as XNYS"
        )
    return text


def fx_week_open(calendar: str) -> int:
    """Nanoseconds after Sunday 00:00 UTC at which a ``24/5`` week opens (22:00 by default)."""
    _, _, at = calendar.partition("@")
    hours, minutes = (int(part) for part in (at or "22:00").split(":"))
    return (hours * 3600 + minutes * 60) * 1_000_000_000


def interval_seconds(interval: str) -> int:
    """The length in seconds of a candle interval name (``15m``, ``1h``, ``4h``, ``1d``).

    Raises:
        ValueError: for another name.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    return INTERVALS[interval]


def parse_calendars(value: object) -> dict[str, str]:
    """Parse ``MLPKG_CALENDARS`` (``"SPY=XNYS EURUSD=24/5"``) into ``{pair: calendar}``.

    Raises:
        ValueError: on an entry without ``=``, a bad pair or a bad calendar.
    """
    if isinstance(value, dict):
        return {normalize_pair(k): check_calendar(v) for k, v in value.items()}
    calendars: dict[str, str] = {}
    for entry in _split_list(value or ""):
        pair, sep, calendar = str(entry).partition("=")
        if not sep:
            raise ValueError(
                f"MLPKG_CALENDARS entry {entry!r} needs PAIR=CALENDAR, e.g. SPY=XNYS EURUSD=24/5"
            )
        calendars[normalize_pair(pair)] = check_calendar(calendar)
    return calendars


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


class Settings(BaseSettings):
    """Machine settings, overridable with ``MLPKG_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MLPKG_", extra="ignore")

    home: Path = Field(default_factory=Path.cwd, description="Project root for relative paths.")
    mlruns_dir: Path = Path("mlruns")
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<mlruns_dir>/mlflow.db."
    )
    reports_dir: Path = Path("reports")
    storage_path: Path = Field(
        default=Path("mlruns/predictions.db"), description="SQLite prediction history."
    )
    pairs: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(SHIPPED_PAIRS))
    calendars: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Trading calendar per pair, e.g. SPY=XNYS EURUSD=24/5 (others: 24/7).",
    )
    default_pair: str = "BTC"
    data_source: DataSourceName = "shipped"
    data_dir: Path = Field(
        default=Path("data"), description="Folder of user candle files <PAIR>.csv / .parquet."
    )
    core_url: str = "http://localhost:3000"
    core_timeout_s: float = 10.0
    core_retries: int = Field(default=2, ge=0, le=10)
    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=1, le=65535)
    serve_alias: Literal["champion", "candidate"] = "champion"
    serve_fallback_candidate: bool = Field(
        default=True,
        description="A pair with no champion serves its latest candidate, labelled as such.",
    )
    api_token: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3005", "http://localhost:3010"]
    )
    prediction_cache_s: float = Field(default=60.0, ge=0)
    metrics_token_required: bool = Field(
        default=False,
        description="GET /metrics needs the API token (MLPKG_API_TOKEN) like the POST endpoints.",
    )
    model_poll_s: float = Field(default=30.0, ge=0, description="How often aliases are re-read.")
    replay_from: Literal["shipped", "file"] = Field(
        default="shipped", description="What MLPKG_DATA_SOURCE=replay replays: shipped or file."
    )
    replay_speed: float = Field(
        default=3600.0, gt=0, description="Replayed seconds per second (3600: an hour a second)."
    )
    replay_start: str = Field(
        default="", description="Replay clock start (UTC); '' = after the served model's data."
    )
    replay_wall0: float | None = Field(
        default=None,
        description="Set by mlpkg serve --workers: time.monotonic() at which every worker's "
        "replay clock starts, so the workers share one clock.",
    )
    live_scoring: bool = Field(
        default=True, description="Score every pair as soon as a new candle closes (loop)."
    )
    live_poll_s: float = Field(
        default=10.0, gt=0, description="Re-read file/core candles this often once one is due."
    )
    retrain_every: Annotated[float | None, NoDecode] = Field(
        default=None, description="Queue a periodic retrain of each pair this often (24h); off."
    )
    retrain_cooldown: Annotated[float, NoDecode] = Field(
        default=1800.0, description="No automatic retrain of a pair this soon after one (30m)."
    )
    job_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Added to a training process's nice value (0: none), so predictions keep "
        "the CPU during a retrain.",
    )
    retrain_on_drift: bool = Field(
        default=False, description="Queue a retrain (trigger drift) when a drift alert is raised."
    )
    challenge_max: int = Field(
        default=5000,
        ge=1,
        description="Settled shadow candles after which an undecided challenger is rejected.",
    )
    challenge_alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Level of the live challenger test (false promotion)."
    )
    drift_window: int = Field(
        default=168, ge=10, le=100_000, description="Served candles the PSI is computed over (N)."
    )
    drift_psi_threshold: float = Field(
        default=0.2, gt=0, description="PSI above which a feature is flagged as drifted."
    )
    accuracy_window: int = Field(
        default=100, ge=5, le=100_000, description="Settled predictions of the accuracy alert (K)."
    )
    ws_queue: int = Field(
        default=100, ge=1, le=100_000, description="Messages buffered per WebSocket subscriber."
    )
    signal_strong: float = Field(
        default=0.7, ge=0, le=1, description="Confidence above which signals are STRONG_*."
    )
    signal_normal: float = Field(
        default=0.55, ge=0, le=1, description="Confidence above which signals are BUY/SELL."
    )
    log_level: str = "INFO"

    @property
    def signals_overridden(self) -> bool:
        """Whether ``MLPKG_SIGNAL_STRONG``/``_NORMAL`` were set (they beat a version's policy)."""
        return bool({"signal_strong", "signal_normal"} & self.model_fields_set)

    study_storage: str | None = Field(
        default=None,
        description="Optuna study storage (SQLAlchemy URL); default sqlite:///<mlruns_dir>/optuna.db.",
    )

    @field_validator("pairs", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        return [normalize_pair(p) for p in _split_list(value)]

    @field_validator("calendars", mode="before")
    @classmethod
    def _parse_calendars(cls, value: Any) -> dict[str, str]:
        return parse_calendars(value)

    def calendar_of(self, pair: str) -> str:
        """The trading calendar of ``pair`` (``MLPKG_CALENDARS``; 24/7 when not listed)."""
        return self.calendars.get(normalize_pair(pair), DEFAULT_CALENDAR)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("default_pair", mode="before")
    @classmethod
    def _parse_default_pair(cls, value: Any) -> str:
        return normalize_pair(value)

    @field_validator("retrain_every", mode="before")
    @classmethod
    def _parse_retrain_every(cls, value: Any) -> float | None:
        return parse_duration(value, "MLPKG_RETRAIN_EVERY")

    @field_validator("retrain_cooldown", mode="before")
    @classmethod
    def _parse_retrain_cooldown(cls, value: Any) -> float:
        return parse_duration(value, "MLPKG_RETRAIN_COOLDOWN") or 0.0

    @field_validator("replay_start")
    @classmethod
    def _parse_replay_start(cls, value: str) -> str:
        return parse_utc_time(value, "MLPKG_REPLAY_START")

    def resolve(self, path: Path) -> Path:
        """Return ``path`` made absolute against ``home``."""
        return path if path.is_absolute() else self.home / path

    @property
    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI (a SQLite file under ``mlruns_dir`` unless overridden)."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.resolve(self.mlruns_dir) / 'mlflow.db'}"

    @property
    def resolved_study_storage(self) -> str:
        """The Optuna study storage URL (a SQLite file under ``mlruns_dir`` unless overridden)."""
        if self.study_storage:
            return self.study_storage
        return f"sqlite:///{self.resolve(self.mlruns_dir) / 'optuna.db'}"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow stores artifacts of new experiments."""
        return self.resolve(self.mlruns_dir) / "artifacts"

    def check_pair(self, pair: str) -> str:
        """Normalise ``pair`` and check it is configured.

        Raises:
            UnknownPairError: if the pair is not in ``pairs``.
        """
        from mlpkg.errors import UnknownPairError

        name = normalize_pair(pair)
        if name not in self.pairs:
            raise UnknownPairError(
                f"Unknown pair {name!r}. Configured pairs: {', '.join(self.pairs)}. "
                "Add it with MLPKG_PAIRS (and provide its candles) to use it."
            )
        return name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` to reload)."""
    return Settings()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureConfig(_Frozen):
    """What the feature matrix holds, and the candles it is computed on.

    ``calendar`` and ``interval`` say what a row is: one trading bar of that length. Empty
    ``calendar`` means the pair's calendar from ``MLPKG_CALENDARS`` (24/7 when not listed),
    resolved when the ``RunConfig`` is built, so a recorded config always names it.
    """

    calendar: str = Field(
        default="", description="24/7, 24/5, 24/5@HH:MM or XNYS (empty: MLPKG_CALENDARS)."
    )
    interval: str = Field(default=DEFAULT_INTERVAL, description="Candle interval: 15m, 1h, 4h, 1d.")

    return_lookbacks: tuple[int, ...] = Field(default=(1, 3, 5, 10, 20), description="Return lags.")
    volatility_windows: tuple[int, ...] = Field(
        default=(10, 50), description="Rolling std windows."
    )
    cross_assets: tuple[str, ...] = Field(
        default=(),
        description="Cross assets: reference pairs and/or market (e.g. BTC,market).",
    )
    market_pairs: tuple[str, ...] = Field(
        default=SHIPPED_PAIRS, description="Pairs of the market return."
    )

    @field_validator("return_lookbacks", "volatility_windows")
    @classmethod
    def _positive_and_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        # A lag <= 0 would read the current or a future candle (look-ahead).
        if not value or any(v < 1 or v > 1000 for v in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct whole numbers from 1 to 1000, got {list(value)}")
        return value

    @field_validator("cross_assets", mode="before")
    @classmethod
    def _parse_cross_assets(cls, value: Any) -> tuple[str, ...]:
        names = [str(v).strip() for v in _split_list(value) if str(v).strip()]
        parsed = [MARKET if n.lower() == MARKET else normalize_pair(n) for n in names]
        if len(set(parsed)) != len(parsed):
            raise ValueError(f"lists an asset twice: {names}")
        return tuple(parsed)

    @field_validator("market_pairs", mode="before")
    @classmethod
    def _parse_market_pairs(cls, value: Any) -> tuple[str, ...]:
        pairs = tuple(dict.fromkeys(normalize_pair(v) for v in _split_list(value) if str(v)))
        if len(pairs) < 2:
            raise ValueError(f"an equal-weight market needs at least two pairs, got {list(pairs)}")
        return pairs

    @field_validator("calendar")
    @classmethod
    def _check_calendar(cls, value: str) -> str:
        return check_calendar(value) if value else value

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: str) -> str:
        interval_seconds(value)
        return value

    @property
    def session_features(self) -> bool:
        """Whether the closure features are computed (every calendar but 24/7)."""
        return self.calendar not in ("", DEFAULT_CALENDAR)


class ModelSection(_Frozen):
    """A model family's hyperparameters; flattened as ``<family>_<field>`` (e.g. ``lstm_units``)."""

    family: ClassVar[str] = ""


class NeuralConfig(ModelSection):
    """Training parameters shared by the neural families (each family has its own copy)."""

    window: int = Field(default=60, ge=2, le=500, description="Timesteps per input window.")
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Dropout rate.")
    dense_units: int = Field(default=32, ge=1, le=1024, description="Dense head width.")
    learning_rate: float = Field(default=1e-3, gt=0, le=1.0, description="Adam learning rate.")
    epochs: int = Field(default=10, ge=1, le=1000, description="Maximum epochs.")
    batch_size: int = Field(default=256, ge=1, le=8192, description="Mini-batch size.")
    patience: int = Field(default=3, ge=1, le=100, description="Early-stopping patience (epochs).")
    validation_fraction: float = Field(
        default=0.15, gt=0.0, lt=0.5, description="Time-ordered tail used for early stopping."
    )


class LSTMConfig(NeuralConfig):
    """Stacked LSTM (the replaced service's v1 architecture: 2 x 50 units, window 60)."""

    family: ClassVar[str] = "lstm"
    units: int = Field(default=50, ge=1, le=1024, description="Units per LSTM layer.")
    layers: int = Field(default=2, ge=1, le=4, description="Stacked LSTM layers.")


class GRUConfig(NeuralConfig):
    """Stacked GRU, the same shape as the LSTM with GRU cells."""

    family: ClassVar[str] = "gru"
    units: int = Field(default=50, ge=1, le=1024, description="Units per GRU layer.")
    layers: int = Field(default=2, ge=1, le=4, description="Stacked GRU layers.")


class CNNConfig(NeuralConfig):
    """Temporal convolution stack over the window (causal padding, dilations 1, 2, 4, ...)."""

    family: ClassVar[str] = "cnn"
    filters: int = Field(default=32, ge=1, le=1024, description="Filters per convolution.")
    kernel_size: int = Field(default=3, ge=2, le=32, description="Convolution kernel size.")
    layers: int = Field(default=3, ge=1, le=8, description="Convolution layers.")


class TransformerConfig(NeuralConfig):
    """Self-attention encoder (learned positions, multi-head attention blocks, pooling)."""

    family: ClassVar[str] = "transformer"
    d_model: int = Field(default=32, ge=4, le=512, description="Embedding width.")
    heads: int = Field(default=4, ge=1, le=16, description="Attention heads per block.")
    layers: int = Field(default=2, ge=1, le=8, description="Encoder blocks.")
    ff_units: int = Field(default=64, ge=1, le=2048, description="Feed-forward width per block.")


class LightGBMConfig(ModelSection):
    """Gradient-boosted trees on the latest feature row plus summaries of the window."""

    family: ClassVar[str] = "lightgbm"
    window: int = Field(default=24, ge=1, le=500, description="Rows summarised per prediction.")
    n_estimators: int = Field(default=500, ge=1, le=20000, description="Maximum boosting rounds.")
    num_leaves: int = Field(default=15, ge=2, le=4096, description="Leaves per tree.")
    learning_rate: float = Field(default=0.03, gt=0, le=1.0, description="Shrinkage.")
    min_child_samples: int = Field(default=200, ge=1, le=100000, description="Rows per leaf.")
    feature_fraction: float = Field(default=0.7, gt=0, le=1.0, description="Columns per tree.")
    patience: int = Field(default=50, ge=1, le=10000, description="Early-stopping rounds.")
    validation_fraction: float = Field(
        default=0.15, gt=0.0, lt=0.5, description="Time-ordered tail used for early stopping."
    )


class LogisticConfig(ModelSection):
    """L2-regularised logistic regression on standardised features (also a reference)."""

    family: ClassVar[str] = "logistic"
    c: float = Field(default=1.0, gt=0, le=1e6, description="Inverse L2 regularisation strength.")


class WalkForwardConfig(_Frozen):
    """Development folds: expanding train window, consecutive test blocks (before the holdout)."""

    n_folds: int = Field(default=4, ge=1, le=50, description="Number of development test blocks.")
    test_fraction: float = Field(
        default=0.1, gt=0.0, lt=0.5, description="Share of development rows per test block."
    )
    max_train_rows: int = Field(
        default=0, ge=0, description="Cap on training rows per fold (0 for an expanding window)."
    )
    fee_bps: float = Field(default=10.0, ge=0.0, description="Cost per position change, in bp.")


class HoldoutConfig(_Frozen):
    """The untouched holdout: the newest rows, scored once by the selected candidate.

    These place a pair's holdout until its first training run records it in the holdout ledger
    (``mlpkg.tracking.ledger``); from then on the ledger decides, and ``mlpkg holdout`` moves it.
    """

    holdout_fraction: float = Field(
        default=0.2,
        gt=0.0,
        lt=0.6,
        description="Share of the candle time span held out (until the ledger has one).",
    )
    holdout_start: str = Field(
        default="",
        description="Hold out from this UTC time, not a fraction (must match the ledger).",
    )
    holdout_blocks: int = Field(
        default=4, ge=1, le=50, description="Time-ordered holdout slices for the majority rule."
    )

    @field_validator("holdout_start")
    @classmethod
    def _parse_holdout_start(cls, value: str) -> str:
        return parse_utc_time(value, "holdout_start")


class SignalConfig(_Frozen):
    """How the signal thresholds are chosen on the development folds (mlpkg.evaluation.policy)."""

    policy_mode: Literal["long_flat", "long_short"] = Field(
        default="long_flat", description="SELL means flat (long_flat) or short (long_short)."
    )
    slippage_bps: float = Field(
        default=0.0, ge=0.0, le=1000.0, description="Slippage per position change, in bp."
    )
    policy_min_trades: int = Field(
        default=100, ge=0, description="Development candles the chosen signal must trade on."
    )
    policy_turnover_bps: float = Field(
        default=0.0, ge=0.0, le=1000.0, description="Objective penalty per unit turnover, in bp."
    )


NEURAL_FAMILIES: tuple[str, ...] = ("lstm", "gru", "cnn", "transformer")
"""Families trained with Keras (served through ONNX Runtime)."""
FAMILIES: tuple[str, ...] = (*NEURAL_FAMILIES, "lightgbm", "logistic")
"""Every model family, in reporting order."""
ENSEMBLES: tuple[str, ...] = ("weighted", "stacked")
"""Combinations of families, evaluated like any family."""
CANDIDATES: tuple[str, ...] = (*FAMILIES, *ENSEMBLES)
"""Every name ``models`` accepts (``all`` selects every one)."""


class PoolConfig(_Frozen):
    """Learning across pairs: one model fitted on the development rows of several pairs."""

    pooled: bool = Field(
        default=False, description="Fit on the development rows of every pool pair."
    )
    pool_pairs: tuple[str, ...] = Field(
        default=SHIPPED_PAIRS, description="Pairs a pooled fit reads."
    )
    pair_indicator: bool = Field(
        default=False, description="Pooled fit with one-hot pair columns (evaluation only)."
    )
    finetune_epochs: int = Field(
        default=0, ge=0, le=100, description="Neural families: epochs on the pair after pooling."
    )

    @field_validator("pool_pairs", mode="before")
    @classmethod
    def _parse_pool_pairs(cls, value: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_pair(v) for v in _split_list(value) if str(v)))


def parse_utc_time(value: str, name: str) -> str:
    """Return an ISO date/time as a UTC ISO string ('' stays '').

    Raises:
        ValueError: if ``value`` is not an ISO date/time.
    """
    if not value:
        return ""
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} {value!r} is not an ISO date/time like 2019-06-30") from exc
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    return stamp.isoformat()


def parse_models(value: Any) -> tuple[str, ...]:
    """Turn ``"lstm,gru"``, ``["lstm"]`` or ``"all"`` into the ordered tuple of candidate names.

    Raises:
        ValueError: on an unknown name, an empty list, or an ensemble without members.
    """
    names = [str(v).strip().lower() for v in _split_list(value) if str(v).strip()]
    if "all" in names:
        return CANDIDATES
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or not names:
        raise ValueError(
            f"unknown model(s) {unknown or names}: choose from {', '.join(CANDIDATES)} or 'all'"
        )
    chosen = tuple(n for n in CANDIDATES if n in names)
    members = [n for n in chosen if n in FAMILIES]
    if "weighted" in chosen and not any(n in NEURAL_FAMILIES for n in members):
        raise ValueError("the weighted ensemble combines neural families: add lstm, gru, ...")
    if "stacked" in chosen and len(members) < 2:
        raise ValueError("the stacked ensemble needs at least two families in models")
    return chosen


class RunConfig(_Frozen):
    """Everything one training/evaluation run of one pair depends on."""

    pair: str = Field(default="BTC", description="Base symbol, e.g. BTC.")
    horizon: int = Field(
        default=DEFAULT_HORIZON, ge=1, le=100, description="Candles ahead for direction_h."
    )
    source: DataSourceName = Field(default="shipped", description="shipped | file | core | replay.")
    max_rows: int = Field(default=0, ge=0, description="Use only the last N candles (0 for all).")
    data_end: str = Field(
        default="",
        description="Ignore candles after this UTC time, e.g. 2019-06-30 (empty for none).",
    )
    seed: int = Field(default=42, description="Base seed for numpy, python and TensorFlow.")
    n_seeds: int = Field(
        default=3, ge=1, le=20, description="Seeds per seeded family on the development folds."
    )
    models: tuple[str, ...] = Field(
        default=("lightgbm", "logistic", "stacked"),
        description="Families/ensembles to compare, or all.",
    )
    importance_rows: int = Field(
        default=500,
        ge=0,
        description="Rows of the last fold for permutation importance (0 turns it off).",
    )
    features: FeatureConfig = FeatureConfig()
    walk_forward: WalkForwardConfig = WalkForwardConfig()
    holdout: HoldoutConfig = HoldoutConfig()
    pool: PoolConfig = PoolConfig()
    signal: SignalConfig = SignalConfig()
    lstm: LSTMConfig = LSTMConfig()
    gru: GRUConfig = GRUConfig()
    cnn: CNNConfig = CNNConfig()
    transformer: TransformerConfig = TransformerConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    logistic: LogisticConfig = LogisticConfig()

    @field_validator("pair", mode="before")
    @classmethod
    def _parse_pair(cls, value: Any) -> str:
        return normalize_pair(value)

    @model_validator(mode="before")
    @classmethod
    def _resolve_calendar(cls, data: Any) -> Any:
        """Fill what depends on other fields when it was not given.

        The pair's calendar (``MLPKG_CALENDARS``, else 24/7), and the horizon's return lag in
        the default ``return_lookbacks`` (``--horizon 6`` alone just works; an explicit list
        must hold it).
        """
        if not isinstance(data, dict):
            return data
        features = data.get("features", {})
        if isinstance(features, FeatureConfig):
            features = features.model_dump(exclude_unset=True)
        if not isinstance(features, dict):
            return data
        features = {**features}
        horizon = str(data.get("horizon", DEFAULT_HORIZON)).strip()  # the CLI gives "6"
        lags = FeatureConfig.model_fields["return_lookbacks"].default
        if "return_lookbacks" not in features and horizon.isdigit() and int(horizon) not in lags:
            features["return_lookbacks"] = tuple(sorted((*lags, int(horizon))))
        # A bad pair or environment: the pair's own validator or Settings names the problem.
        with contextlib.suppress(ConfigError, ValidationError):
            if not features.get("calendar"):
                features["calendar"] = get_settings().calendar_of(str(data.get("pair", "BTC")))
        return {**data, "features": features}

    @field_validator("data_end")
    @classmethod
    def _parse_data_end(cls, value: str) -> str:
        return parse_utc_time(value, "data_end")

    @field_validator("models", mode="before")
    @classmethod
    def _parse_models(cls, value: Any) -> tuple[str, ...]:
        return parse_models(value)

    @model_validator(mode="after")
    def _horizon_has_return(self) -> RunConfig:
        if self.horizon not in self.features.return_lookbacks:
            lags = ",".join(map(str, self.features.return_lookbacks))
            raise ValueError(
                f"horizon {self.horizon} needs the feature return_{self.horizon} (the persistence "
                f"baseline reads it): add {self.horizon} to return_lookbacks (now {lags})"
            )
        return self

    @property
    def families(self) -> tuple[str, ...]:
        """The model families in ``models`` (ensembles excluded)."""
        return tuple(m for m in self.models if m in FAMILIES)

    @property
    def ensembles(self) -> tuple[str, ...]:
        """The ensembles in ``models``."""
        return tuple(m for m in self.models if m in ENSEMBLES)

    def section(self, family: str) -> ModelSection:
        """Return a family's hyperparameter section (``config.section("gru")``)."""
        if family not in FAMILIES:
            raise ConfigError(f"Unknown model family {family!r}; families: {', '.join(FAMILIES)}.")
        section: ModelSection = getattr(self, family)
        return section

    @property
    def model_key(self) -> str:
        """Where this run's model is registered: ``BTC`` (1 h, h = 5) or ``BTC-4h-h6``."""
        return model_key(self.pair, self.interval, self.horizon)

    @property
    def calendar(self) -> str:
        """The pair's trading calendar (``features.calendar``)."""
        return self.features.calendar

    @property
    def interval(self) -> str:
        """The candle interval of every row (``features.interval``)."""
        return self.features.interval

    def context_rows(self, families: Sequence[str] | None = None) -> int:
        """Rows of history before a scored row that the given families read (max ``window - 1``)."""
        names = self.families if families is None else families
        return max((getattr(self.section(f), "window", 1) - 1 for f in names), default=0)

    def to_flat(self) -> dict[str, Any]:
        """Return the config as one level of ``name -> value`` (notebook parameters)."""
        flat: dict[str, Any] = {}
        for name, value in self:
            if isinstance(value, ModelSection):
                flat.update({f"{value.family}_{k}": v for k, v in value.model_dump().items()})
            elif isinstance(value, BaseModel):
                flat.update(value.model_dump())
            else:
                flat[name] = value
        return flat

    @classmethod
    def flat_fields(cls) -> list[str]:
        """Return every flattened field name, in order."""
        return list(cls().to_flat())

    @classmethod
    def from_flat(cls, **params: Any) -> RunConfig:
        """Build a run config from flattened names, with a clear error for bad values.

        Raises:
            ConfigError: on an unknown name or an invalid value.
        """
        nested: dict[str, Any] = {}
        for name, value in params.items():
            place = _FLAT_PLACES.get(name)
            if place is None:
                raise ConfigError(
                    f"Unknown run parameter {name!r}. Valid names: {', '.join(cls.flat_fields())}."
                )
            section, field = place
            if section:
                nested.setdefault(section, {})[field] = value
            else:
                nested[field] = value
        try:
            return cls.model_validate(nested)
        except ValidationError as exc:
            problems = "; ".join(_describe_error(err) for err in exc.errors())
            raise ConfigError(f"Invalid run parameters: {problems}.") from exc


def _describe_error(err: Any) -> str:
    """One validation error as ``field: message`` (flattened name; no prefix for model checks)."""
    message = str(err["msg"]).removeprefix("Value error, ")
    loc = [str(part) for part in err["loc"]]
    if not loc:
        return message
    if len(loc) >= 2 and loc[0] in _SECTION_PREFIX:
        return f"{_SECTION_PREFIX[loc[0]]}{loc[1]}: {message}"
    return f"{loc[-1] if len(loc) == 1 else loc[1]}: {message}"


def _flat_places() -> dict[str, tuple[str, str]]:
    """Map each flattened name to ``(section attribute or '', field name)``."""
    places: dict[str, tuple[str, str]] = {}
    for name, info in RunConfig.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            prefix = f"{kind.family}_" if issubclass(kind, ModelSection) else ""
            places.update({f"{prefix}{f}": (name, f) for f in kind.model_fields})
        else:
            places[name] = ("", name)
    return places


_SECTION_PREFIX: dict[str, str] = {family: f"{family}_" for family in FAMILIES}
_FLAT_PLACES: dict[str, tuple[str, str]] = _flat_places()
