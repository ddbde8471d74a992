"""Configuration in one typed place.

``Settings`` describes the machine (paths, tracking URI, port, upstream) and reads ``MLPKG_*``
environment variables; ``get_settings()`` caches it. Run settings are frozen pydantic models
(``FeatureConfig``, ``ModelConfig``, ``WalkForwardConfig`` inside ``RunConfig``) with defaults in
code. Field names are unique across the sub-configs, so a run config flattens to one level of
names: those are the notebook parameters and the MLflow params.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

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
PAIR_PATTERN = re.compile(r"^[A-Z0-9]{2,15}$")
_QUOTE_SUFFIX = re.compile(r"[-_/]?(USDT|USD)$")
DataSourceName = Literal["shipped", "file", "core"]


def normalize_pair(pair: str) -> str:
    """Return the canonical pair name: upper-case base symbol (``btc_usdt`` -> ``BTC``).

    Raises:
        ConfigError: if the name is not 2-15 letters/digits once the quote suffix is removed.
    """
    text = str(pair).strip().upper()
    base = _QUOTE_SUFFIX.sub("", text) or text
    if not PAIR_PATTERN.fullmatch(base):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ConfigError(
            f"Invalid pair {shown!r}: use a base symbol of 2-15 letters or digits such as 'BTC'."
        )
    return base


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
    model_poll_s: float = Field(default=30.0, ge=0, description="How often aliases are re-read.")
    signal_strong: float = Field(
        default=0.7, ge=0, le=1, description="Confidence above which signals are STRONG_*."
    )
    signal_normal: float = Field(
        default=0.55, ge=0, le=1, description="Confidence above which signals are BUY/SELL."
    )
    log_level: str = "INFO"

    @field_validator("pairs", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        return [normalize_pair(p) for p in _split_list(value)]

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("default_pair", mode="before")
    @classmethod
    def _parse_default_pair(cls, value: Any) -> str:
        return normalize_pair(value)

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
    """What the feature matrix holds."""

    return_lookbacks: tuple[int, ...] = Field(default=(1, 3, 5, 10, 20), description="Return lags.")
    volatility_windows: tuple[int, ...] = Field(
        default=(10, 50), description="Rolling std windows."
    )

    @field_validator("return_lookbacks", "volatility_windows")
    @classmethod
    def _positive_and_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        # A lag <= 0 would read the current or a future candle (look-ahead).
        if not value or any(v < 1 or v > 1000 for v in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct whole numbers from 1 to 1000, got {list(value)}")
        return value


class ModelConfig(_Frozen):
    """LSTM architecture and training parameters (seed-service defaults for the architecture)."""

    window: int = Field(default=60, ge=2, le=500, description="Timesteps per LSTM window.")
    units: int = Field(default=50, ge=1, le=1024, description="Units per LSTM layer.")
    lstm_layers: int = Field(default=2, ge=1, le=4, description="Stacked LSTM layers.")
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Dropout after LSTM layers.")
    dense_units: int = Field(default=32, ge=1, le=1024, description="Dense head width.")
    learning_rate: float = Field(default=1e-3, gt=0, le=1.0, description="Adam learning rate.")
    epochs: int = Field(default=10, ge=1, le=1000, description="Maximum epochs.")
    batch_size: int = Field(default=256, ge=1, le=8192, description="Mini-batch size.")
    patience: int = Field(default=3, ge=1, le=100, description="Early-stopping patience (epochs).")
    validation_fraction: float = Field(
        default=0.15, gt=0.0, lt=0.5, description="Time-ordered tail used for early stopping."
    )


class WalkForwardConfig(_Frozen):
    """Walk-forward evaluation: expanding train window, consecutive test blocks."""

    n_folds: int = Field(default=4, ge=1, le=50, description="Number of test blocks.")
    test_fraction: float = Field(
        default=0.1, gt=0.0, lt=0.5, description="Share of rows in each test block."
    )
    max_train_rows: int = Field(
        default=0, ge=0, description="Cap on training rows per fold (0 = expanding window)."
    )
    fee_bps: float = Field(default=10.0, ge=0.0, description="Cost per position change, in bp.")


class RunConfig(_Frozen):
    """Everything one training/evaluation run of one pair depends on."""

    pair: str = Field(default="BTC", description="Base symbol, e.g. BTC.")
    horizon: int = Field(default=5, ge=1, le=100, description="Candles ahead for direction_h.")
    source: DataSourceName = Field(default="shipped", description="shipped | file | core.")
    max_rows: int = Field(default=0, ge=0, description="Use only the last N candles (0 = all).")
    data_end: str = Field(
        default="", description="Ignore candles after this UTC time, e.g. 2019-06-30 ('' = none)."
    )
    seed: int = Field(default=42, description="Seed for numpy, python and TensorFlow.")
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    walk_forward: WalkForwardConfig = WalkForwardConfig()

    @field_validator("pair", mode="before")
    @classmethod
    def _parse_pair(cls, value: Any) -> str:
        return normalize_pair(value)

    @field_validator("data_end")
    @classmethod
    def _parse_data_end(cls, value: str) -> str:
        if not value:
            return ""
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"data_end {value!r} is not an ISO date/time like 2019-06-30") from exc
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        return stamp.isoformat()

    @model_validator(mode="after")
    def _horizon_has_return(self) -> RunConfig:
        if self.horizon not in self.features.return_lookbacks:
            lags = ",".join(map(str, self.features.return_lookbacks))
            raise ValueError(
                f"horizon {self.horizon} needs the feature return_{self.horizon} (the persistence "
                f"baseline reads it): add {self.horizon} to return_lookbacks (now {lags})"
            )
        return self

    def to_flat(self) -> dict[str, Any]:
        """Return the config as one level of ``name -> value`` (notebook parameters)."""
        flat: dict[str, Any] = {}
        for name, value in self:
            if isinstance(value, BaseModel):
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
        sections = {k: v for k, v in cls.model_fields.items() if k in _SECTIONS}
        for name, value in params.items():
            section = next(
                (s for s, f in sections.items() if name in _SECTIONS[s].model_fields), None
            )
            if section is not None:
                nested.setdefault(section, {})[name] = value
            elif name in cls.model_fields and name not in _SECTIONS:
                nested[name] = value
            else:
                raise ConfigError(
                    f"Unknown run parameter {name!r}. Valid names: {', '.join(cls.flat_fields())}."
                )
        try:
            return cls.model_validate(nested)
        except ValidationError as exc:
            problems = "; ".join(_describe_error(err) for err in exc.errors())
            raise ConfigError(f"Invalid run parameters: {problems}.") from exc


def _describe_error(err: Any) -> str:
    """One validation error as ``field: message`` (no prefix for whole-model checks)."""
    message = str(err["msg"]).removeprefix("Value error, ")
    field = str(err["loc"][-1]) if err["loc"] else ""
    return f"{field}: {message}" if field else message


_SECTIONS: dict[str, type[BaseModel]] = {
    "features": FeatureConfig,
    "model": ModelConfig,
    "walk_forward": WalkForwardConfig,
}
