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

import os
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


def env_secret(name: str | None, what: str) -> SecretStr | None:
    """The secret held by the environment variable a setting names (``what`` is that setting);
    None when no variable is named. A named variable that is unset, empty or a placeholder is
    a configuration error, not a silent dry run."""
    if not name:
        return None
    value = os.environ.get(name, "")
    if not value.strip():
        raise SettingsError(f"{what}: the environment variable {name} is not set")
    if _PLACEHOLDER.match(value.strip()):
        raise SettingsError(f"{what}: the environment variable {name} holds a placeholder")
    return SecretStr(value)


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
    # This city's Open311 credentials, named here and read from the environment (the default
    # city may use the top-level secrets instead).
    open311_api_key_env: str | None = None
    open311_oauth_token_url: str | None = None
    open311_oauth_client_id: str | None = None
    open311_oauth_client_secret_env: str | None = None
    # This city's own accounts for sending replies (README "Replies"): the non-secret parts here,
    # the secrets named by the environment variables that hold them. The X app and the Reddit
    # app (consumer key, client id and their secrets) are the deployment's. The default city
    # falls back to the top-level accounts; another city without its own replies in dry run.
    x_access_token_env: str | None = None
    x_access_token_secret_env: str | None = None
    mastodon_api_base_url: str | None = None
    mastodon_access_token_env: str | None = None
    bluesky_handle: str | None = None
    bluesky_pds_url: str | None = None
    bluesky_app_password_env: str | None = None
    reddit_username: str | None = None
    reddit_password_env: str | None = None
    response_target_minutes: int = Field(default=240, ge=1)
    # Language used for replies when a post's language has no template.
    default_language: str = "en"
    # [south, west, north, east]: posts with coordinates inside are this city's. Empty means
    # the box around the gazetteer's places.
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    # A link to a case on the city's 311 site, with ``{case_number}``: the ``{case_link}``
    # placeholder of reply templates (none leaves it empty).
    case_link_template: str | None = None
    # Topic -> how long a fix usually takes ("2 business days"): the ``{expected_time}`` placeholder.
    expected_times: dict[str, str] = Field(default_factory=dict)
    # Console: the provider name of an ``[auth.<name>]`` block in .streamlit/secrets.toml
    # offered as "Sign in with ..." (OIDC through st.login); none offers passwords only.
    oidc_provider: str | None = None
    # Dashboard spike alert: the last hour has at least spike_min_posts posts on a topic and
    # spike_factor times the usual count for that hour of the day.
    spike_factor: float = Field(default=3.0, gt=1.0)
    spike_min_posts: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _whole_reply_accounts(self) -> CitySettings:
        for fields in _REPLY_ACCOUNT_FIELDS:
            given = [f for f in fields if getattr(self, f)]
            if given and len(given) < len(fields):
                missing = ", ".join(f for f in fields if f not in given)
                raise ValueError(f"a reply account needs {' and '.join(fields)}: {missing} missing")
        return self


# the parts of one reply account a city names together (see ``CitySettings``)
_REPLY_ACCOUNT_FIELDS: tuple[tuple[str, ...], ...] = (
    ("x_access_token_env", "x_access_token_secret_env"),
    ("mastodon_api_base_url", "mastodon_access_token_env"),
    ("bluesky_handle", "bluesky_app_password_env"),
    ("reddit_username", "reddit_password_env"),
)


class RetentionSettings(BaseModel):
    """How long records are kept, in days; ``None`` keeps them."""

    model_config = {"extra": "forbid"}

    posts: int | None = Field(default=None, ge=1)
    quarantine: int | None = Field(default=90, ge=1)
    audit: int | None = Field(default=None, ge=1)


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
    # processes the classifier splits a large batch over (default: up to 2 cores); 1 when
    # several workers share a machine, so they do not oversubscribe its cores
    # 1 (the default) labels in the service's own process; 2 or more labels in a worker
    # process while the service stores (civic_listener.labeller): a second core.
    classifier_jobs: int = Field(default=1, ge=1, le=64)
    review_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    poll_interval_seconds: float = Field(default=5.0, gt=0.0)
    # Acting
    dry_run: bool = True
    # Service requests (Open311): the default city's endpoint; see README "Service requests"
    open311_url: str | None = None
    open311_jurisdiction_id: str | None = None
    open311_oauth_token_url: str | None = None
    open311_oauth_client_id: str | None = None
    open311_oauth_scope: str | None = None
    open311_timeout_seconds: float = Field(default=20.0, gt=0.0)
    cases_auto_file: bool = False
    cases_auto_topics: list[str] = Field(default_factory=list)
    cases_auto_urgencies: list[str] = Field(default_factory=lambda: ["high", "normal"])
    cases_min_confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    cases_require_location: bool = True
    cases_duplicate_radius_meters: float = Field(default=150.0, ge=0.0)
    cases_duplicate_window_hours: float = Field(default=72.0, ge=0.0)
    cases_outbox_interval_seconds: float = Field(default=30.0, gt=0.0)
    cases_sync_interval_seconds: float = Field(default=900.0, gt=0.0)
    cases_max_attempts: int = Field(default=12, ge=1)
    # Replies (see README "Replies"): the outbox job, retries, rules a person configured,
    # X's per-post prices, and the non-secret parts of the sending accounts.
    reply_send_interval_seconds: float = Field(default=30.0, gt=0.0)
    reply_max_attempts: int = Field(default=8, ge=1)
    reply_auto_send_topics: list[str] = Field(default_factory=list)
    x_post_cost_usd: float = Field(default=0.015, ge=0.0)
    x_link_post_cost_usd: float = Field(default=0.20, ge=0.0)
    mastodon_api_base_url: str | None = None
    bluesky_handle: str | None = None
    bluesky_pds_url: str = "https://bsky.social"
    reddit_client_id: str | None = None
    reddit_username: str | None = None
    reddit_user_agent: str = "civic-listener/0.1 (city replies)"
    # Console
    console_host: str = "localhost"
    console_port: int = Field(default=8501, ge=1, le=65535)
    session_idle_minutes: int = Field(default=60, ge=1)
    session_max_hours: float = Field(default=12.0, gt=0.0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Health: a small HTTP endpoint (GET /health) while the service runs; 0 turns it off.
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8765, ge=0, le=65535)
    # Retention in days per kind of record (none keeps forever); the purge job applies it.
    retention: RetentionSettings = Field(default_factory=lambda: RetentionSettings())
    secrets_file: Path | None = None
    # Secrets: environment or secrets file only
    x_bearer_token: SecretStr | None = None
    open311_api_key: SecretStr | None = None
    open311_oauth_client_secret: SecretStr | None = None
    # Sending replies (user-context credentials of the city's own accounts)
    x_consumer_key: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_token_secret: SecretStr | None = None
    mastodon_access_token: SecretStr | None = None
    bluesky_app_password: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_password: SecretStr | None = None
    # Cities: a single city is the one default city
    default_city: str = DEFAULT_CITY
    # With several cities, posts that match none wait in this state-level queue.
    state_queue_name: str = "State queue"
    cities: dict[str, CitySettings] = Field(default_factory=dict)

    _validate_secrets = field_validator(
        "x_bearer_token", "open311_api_key", "open311_oauth_client_secret"
    )(_refuse_placeholder)
    _validate_reply_secrets = field_validator(
        "x_consumer_key",
        "x_consumer_secret",
        "x_access_token",
        "x_access_token_secret",
        "mastodon_access_token",
        "bluesky_app_password",
        "reddit_client_secret",
        "reddit_password",
    )(_refuse_placeholder)

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
