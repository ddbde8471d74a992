"""The machine's settings: ``Settings`` (``MLPKG_*`` environment variables) and ``get_settings``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlpkg.config.base import parse_duration, parse_utc_time, split_list
from mlpkg.config.pairs import (
    DEFAULT_CALENDAR,
    SHIPPED_PAIRS,
    normalize_pair,
    parse_calendars,
)

DataSourceName = Literal["shipped", "file", "core", "replay"]
"""Where candles come from: shipped files, a user folder, the core service, a replay."""


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
        return [normalize_pair(p) for p in split_list(value)]

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
        return split_list(value)

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
