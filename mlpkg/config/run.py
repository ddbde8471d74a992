"""The frozen run config: everything one training/evaluation run of one pair depends on.

``RunConfig`` holds ``FeatureConfig``, one ``ModelSection`` per family, ``WalkForwardConfig``,
``HoldoutConfig``, ``PoolConfig`` and ``SignalConfig``, with defaults in code. A family's fields
flatten as ``<family>_<field>`` and the other names are unique across the sub-configs, so a run
config flattens to one level of names: those are the notebook parameters and the MLflow params.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from mlpkg.config.base import Frozen, parse_utc_time, split_list
from mlpkg.config.families import (
    CANDIDATES,
    ENSEMBLES,
    FAMILIES,
    NEURAL_FAMILIES,
    CNNConfig,
    GRUConfig,
    LightGBMConfig,
    LogisticConfig,
    LSTMConfig,
    ModelSection,
    TransformerConfig,
)
from mlpkg.config.pairs import (
    DEFAULT_CALENDAR,
    DEFAULT_HORIZON,
    DEFAULT_INTERVAL,
    MARKET,
    SHIPPED_PAIRS,
    check_calendar,
    interval_seconds,
    model_key,
    normalize_pair,
)
from mlpkg.config.settings import DataSourceName, get_settings
from mlpkg.errors import ConfigError


class FeatureConfig(Frozen):
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
        names = [str(v).strip() for v in split_list(value) if str(v).strip()]
        parsed = [MARKET if n.lower() == MARKET else normalize_pair(n) for n in names]
        if len(set(parsed)) != len(parsed):
            raise ValueError(f"lists an asset twice: {names}")
        return tuple(parsed)

    @field_validator("market_pairs", mode="before")
    @classmethod
    def _parse_market_pairs(cls, value: Any) -> tuple[str, ...]:
        pairs = tuple(dict.fromkeys(normalize_pair(v) for v in split_list(value) if str(v)))
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


class WalkForwardConfig(Frozen):
    """Development folds: expanding train window, consecutive test blocks (before the holdout)."""

    n_folds: int = Field(default=4, ge=1, le=50, description="Number of development test blocks.")
    test_fraction: float = Field(
        default=0.1, gt=0.0, lt=0.5, description="Share of development rows per test block."
    )
    max_train_rows: int = Field(
        default=0, ge=0, description="Cap on training rows per fold (0 for an expanding window)."
    )
    fee_bps: float = Field(default=10.0, ge=0.0, description="Cost per position change, in bp.")


class HoldoutConfig(Frozen):
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


class SignalConfig(Frozen):
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


class PoolConfig(Frozen):
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
        return tuple(dict.fromkeys(normalize_pair(v) for v in split_list(value) if str(v)))


def parse_models(value: Any) -> tuple[str, ...]:
    """Turn ``"lstm,gru"``, ``["lstm"]`` or ``"all"`` into the ordered tuple of candidate names.

    Raises:
        ValueError: on an unknown name, an empty list, or an ensemble without members.
    """
    names = [str(v).strip().lower() for v in split_list(value) if str(v).strip()]
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


class RunConfig(Frozen):
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
