"""``civic-listener user`` and the console benchmark on a small database."""

from __future__ import annotations

import pytest

from civic_listener.cli import main
from civic_listener.settings import load_settings
from models.auth import SignInRefused, sign_in
from models.bench import bench_console
from models.db import make_engine

PW = "correct horse battery"


def test_user_add_takes_the_password_from_the_environment_only(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIVIC_DATABASE_URL", db_url)
    with pytest.raises(SystemExit):  # no --password flag exists
        main(["user", "add", "ana", "--role", "admin", "--password", PW])
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit, match="CIVIC_NEW_USER_PASSWORD"):
        main(["user", "add", "ana", "--role", "admin"])
    monkeypatch.setenv("CIVIC_NEW_USER_PASSWORD", PW)
    assert main(["user", "add", "ana", "--role", "admin", "--city", "default"]) == 0
    assert main(["user", "add", "ana", "--role", "admin"]) == 1  # exists already
    assert main(["user", "add", "bo", "--role", "viewer", "--city", "nowhere"]) == 2
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    assert "default\tana\tadmin\tactive" in capsys.readouterr().out
    engine = make_engine(load_settings().database_url)
    assert sign_in(engine, username="ana", password=PW).actor.username == "ana"
    monkeypatch.setenv("CIVIC_NEW_USER_PASSWORD", "a brand new password")
    assert main(["user", "passwd", "ana"]) == 0
    with pytest.raises(SignInRefused):
        sign_in(engine, username="ana", password=PW)
    engine.dispose()


def test_bench_console_reports_inbox_and_dashboard_times() -> None:
    figures = bench_console(posts=3000)
    assert figures["posts"] == 3000
    for key in ("inbox_open_triage_ms", "inbox_all_newest_deep_ms", "dashboard_30_days_ms"):
        assert figures[key] > 0
    assert any("ix_post_open_triage" in s for s in figures["plan_inbox_open_triage"])
