"""Shared fixtures: a temp SQLite file per test, settings, services, and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.settings import DEMO_CORPUS, Settings, load_settings
from civic_listener.wiring import Services, build_services
from tests.fakes.classifier import KeywordClassifier

REQUIRE_SYSTEM = os.environ.get("CIVIC_REQUIRE_SYSTEM_TESTS") == "1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CIVIC_") and key not in (
            "CIVIC_TEST_POSTGRES_URL",
            "CIVIC_REQUIRE_SYSTEM_TESTS",
        ):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'civic.db'}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url, replay_file=DEMO_CORPUS, health_port=0)


@pytest.fixture
def keyword_classifier() -> KeywordClassifier:
    return KeywordClassifier()


@pytest.fixture
def services(settings: Settings, keyword_classifier: KeywordClassifier) -> Iterator[Services]:
    svc = build_services(settings, classifier=keyword_classifier)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def real_classifier():  # type: ignore[no-untyped-def]
    from classifiers import load_classifier

    return load_classifier()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    base = os.environ.get("CIVIC_TEST_POSTGRES_URL")
    if not base:
        if REQUIRE_SYSTEM:
            pytest.fail("CIVIC_TEST_POSTGRES_URL is not set but system tests are required")
        pytest.skip("no PostgreSQL server (CIVIC_TEST_POSTGRES_URL)")
    name = f"civic_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
