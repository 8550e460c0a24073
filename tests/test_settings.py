from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from civic_listener.settings import CitySettings, Settings, SettingsError, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_are_sqlite_and_one_default_city() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///./data/civic-listener.db"
    assert list(s.cities) == ["default"]
    assert s.dry_run is True


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'batch_size = 250\nlog_level = "DEBUG"\n[cities.springfield]\nname = "Springfield"\n'
    )
    monkeypatch.setenv("CIVIC_BATCH_SIZE", "333")
    s = load_settings(cfg)
    assert s.batch_size == 333
    assert s.log_level == "DEBUG"
    assert s.default_city == "springfield"
    assert s.cities["springfield"].name == "Springfield"


def test_postgres_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVIC_DATABASE_URL", "postgresql://u@localhost/db")
    assert load_settings().database_url == "postgresql+psycopg://u@localhost/db"


def test_secrets_refused_in_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('open311_api_key = "abcdef0123456789"\n')
    with pytest.raises(SettingsError, match="secrets"):
        load_settings(cfg)


def test_placeholder_secret_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVIC_X_BEARER_TOKEN", "changeme")
    with pytest.raises(SettingsError, match="placeholder"):
        load_settings()


def test_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('open311_api_key = "k-7f3a9c2e"\n')
    monkeypatch.setenv("CIVIC_SECRETS_FILE", str(secrets))
    s = load_settings()
    assert s.open311_api_key is not None
    assert s.open311_api_key.get_secret_value() == "k-7f3a9c2e"
    assert "k-7f3a9c2e" not in repr(s)


def test_unknown_setting_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("batch_sise = 10\n")
    with pytest.raises(SettingsError):
        load_settings(cfg)


def test_bad_toml_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("batch_size = = 1\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(cfg)


def _names(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _names(ann, f"{prefix}{name}.")
    return out


def test_readme_documents_every_setting() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        n
        for n in _names(Settings, "")
        if n != "cities" and f"CIVIC_{n.upper().replace('.', '__')}" not in text
    ]
    missing += [n for n in CitySettings.model_fields if not re.search(rf"`{n}`", text)]
    assert not missing, f"settings not documented in README.md: {missing}"
