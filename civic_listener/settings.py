"""Settings: a TOML file, ``CIVIC_``-prefixed environment variables and a secrets file.

Precedence, highest first: values passed in code, the environment, the TOML file
(``--config``, or ``civic-listener.toml`` in the working directory when it exists),
the secrets file (``CIVIC_SECRETS_FILE``), then the defaults below.

Secrets (platform tokens, Open311 keys) are refused in the TOML file, which a city may
keep in version control: they come from the environment or the secrets file only, and a
placeholder value ("changeme", "<token>", ...) is refused outright.

Every field is documented in README.md; ``tests/test_settings.py`` fails when one is not.
"""

from __future__ import annotations

import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("civic-listener.toml")
DEFAULT_CITY = "default"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = PACKAGE_ROOT / "listener" / "demo" / "boston_demo.jsonl"

_toml_path: ContextVar[Path | None] = ContextVar("civic_toml_path", default=None)
_PLACEHOLDER = re.compile(
    r"^(changeme|change-me|change_me|placeholder|todo|xxx+|\*+|<.*>|your[-_ ].*|secret|token|password|dummy)$",
    re.IGNORECASE,
)


class SettingsError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and _PLACEHOLDER.match(value.get_secret_value().strip()):
        raise ValueError("is a placeholder, not a real secret")
    return value


class CitySettings(BaseModel):
    """One municipality: ``[cities.<slug>]`` in the TOML file."""

    model_config = {"extra": "forbid"}

    name: str = "Boston"
    timezone: str = "America/New_York"
    # The city's own accounts per platform: posts by them are never imported as new items,
    # and a mention of them routes a post to this city.
    accounts: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "x": ["BOS311", "CityOfBoston", "NotifyBoston"],
            "mastodon": ["cityofboston@mastodon.social"],
            "bluesky": ["boston.gov"],
            "reddit": [],
        }
    )
    keywords: list[str] = Field(default_factory=lambda: ["boston", "#bos311", "311"])
    # A JSON gazetteer (neighborhoods, streets, landmarks); empty means the shipped Boston one.
    gazetteer: Path | None = None
    # Topic -> Open311 service code; empty entries fall back to the shipped default map.
    service_codes: dict[str, str] = Field(default_factory=dict)
    open311_url: str | None = None
    open311_jurisdiction_id: str | None = None
    response_target_minutes: int = Field(default=240, ge=1)
    # Language used for replies when a post's language has no template.
    default_language: str = "en"


class Settings(BaseSettings):
    """Everything the service reads at start. See README.md, "Settings"."""

    model_config = SettingsConfigDict(
        env_prefix="CIVIC_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    # Storage
    database_url: str = "sqlite:///./data/civic-listener.db"
    # Sources
    replay_file: Path | None = DEMO_CORPUS
    replay_speed: float = Field(default=0.0, ge=0.0)
    repost_policy: Literal["skip", "link"] = "link"
    # Platform sources: ``[[sources]]`` tables, each with ``kind``, ``name`` and its options
    # (see README, "Sources"); credentials are named here but read from the environment.
    sources: list[dict[str, Any]] = Field(default_factory=list)
    # Pipeline
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    classifier_dir: Path | None = None
    review_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    poll_interval_seconds: float = Field(default=5.0, gt=0.0)
    # Acting
    dry_run: bool = True
    # Console
    console_host: str = "localhost"
    console_port: int = Field(default=8501, ge=1, le=65535)
    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    secrets_file: Path | None = None
    # Secrets: environment or secrets file only
    x_bearer_token: SecretStr | None = None
    open311_api_key: SecretStr | None = None
    # Cities: a single city is the one default city
    default_city: str = DEFAULT_CITY
    cities: dict[str, CitySettings] = Field(default_factory=dict)

    _validate_secrets = field_validator("x_bearer_token", "open311_api_key")(_refuse_placeholder)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _ensure_default_city(self) -> Settings:
        if not self.cities:
            self.cities = {self.default_city: CitySettings()}
        elif self.default_city not in self.cities:
            self.default_city = next(iter(self.cities))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


SECRET_FIELDS = frozenset(
    name for name, f in Settings.model_fields.items() if f.annotation == SecretStr | None
)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def _read_secrets(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    unknown = sorted(set(data) - SECRET_FIELDS)
    if unknown:
        raise SettingsError(f"secrets file {path} has unknown keys: {', '.join(unknown)}")
    return data


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the TOML file, the environment, the secrets file and ``overrides``."""
    import os

    if config is None and DEFAULT_CONFIG_FILE.exists():
        config = DEFAULT_CONFIG_FILE
    if config is not None:
        data = _read_toml(config)
        leaked = sorted(SECRET_FIELDS & set(data))
        if leaked:
            raise SettingsError(
                f"{config} contains secrets ({', '.join(leaked)}): put them in the environment "
                "or the secrets file (CIVIC_SECRETS_FILE), never in the config file"
            )
    secrets_path = overrides.get("secrets_file") or os.environ.get("CIVIC_SECRETS_FILE")
    secrets: dict[str, Any] = {}
    if secrets_path:
        secrets = {
            k: v
            for k, v in _read_secrets(Path(secrets_path)).items()
            if f"CIVIC_{k.upper()}" not in os.environ and k not in overrides
        }
    token = _toml_path.set(config)
    try:
        return Settings(**secrets, **overrides)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    finally:
        _toml_path.reset(token)
