"""Health reporting, the scheduler's failure isolation, retention and export masking."""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.cli import main
from civic_listener.health import health_report, serve_health
from civic_listener.scheduler import Scheduler
from civic_listener.service import run_forever, run_once
from civic_listener.wiring import Services
from listener.replay import ReplaySource
from models.privacy import mask_pii, purge
from models.store import POST
from models.tables import JobState
from tests.helpers import post, write_jsonl


def test_one_failing_job_does_not_stop_the_others(services: Services) -> None:
    sched = Scheduler(services.engine, services.cities.default.id)
    ran: list[str] = []
    sched.add("bad", lambda: 1 / 0, every_seconds=1)
    sched.add("good", lambda: ran.append("good"), every_seconds=1)
    assert sched.run_all() == {"bad": False, "good": True}
    assert sched.run_all() == {"bad": False, "good": True}
    assert ran == ["good", "good"]
    report = health_report(services.engine)
    jobs = {j["name"]: j for j in report["jobs"]}
    assert jobs["bad"]["failures"] == 2 and "ZeroDivisionError" in jobs["bad"]["last_error"]
    assert jobs["good"]["last_status"] == "ok" and jobs["good"]["runs"] == 2
    assert report["status"] == "degraded" and report["failing_jobs"] == ["bad"]


def test_health_command_and_endpoint(
    services: Services,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services.sources = [
        ReplaySource("replay", write_jsonl(tmp_path / "a.jsonl", [post(1), post(2)]))
    ]
    run_once(services)
    monkeypatch.setenv("CIVIC_DATABASE_URL", services.settings.database_url)
    assert main(["health"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {j["name"] for j in out["jobs"]} >= {"classify_pending", "purge"}
    assert out["sources"][0]["name"] == "replay" and out["pending_classification"] == 0

    server = serve_health("127.0.0.1", 0, lambda: health_report(services.engine))
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        server.shutdown()
        server.server_close()


def test_run_forever_serves_health_while_running(services: Services, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    services.settings.health_port = port
    services.sources = [ReplaySource("replay", write_jsonl(tmp_path / "a.jsonl", [post(1)]))]
    stop = threading.Event()
    seen: dict = {}

    def probe() -> None:
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    seen.update(json.loads(resp.read()))
                    if seen.get("live_sources", {}).get("replay", {}).get("state") == "finished":
                        break
            except OSError:
                pass
            stop.wait(0.1)
        stop.set()

    t = threading.Thread(target=probe)
    t.start()
    run_forever(services, stop, flush_seconds=0.05)
    t.join()
    assert seen["live_sources"]["replay"]["state"] == "finished"


def test_retention_purges_old_text_but_keeps_labels(services: Services, tmp_path: Path) -> None:
    old = post(1, "pothole, call me 617-555-0123") | {"created_at": "2026-01-01T00:00:00Z"}
    services.sources = [ReplaySource("replay", write_jsonl(tmp_path / "a.jsonl", [old, post(2)]))]
    run_once(services)
    now = datetime(2026, 11, 28, tzinfo=UTC)
    done = purge(services.engine, now=now, posts_days=90, quarantine_days=30, audit_days=None)
    assert done["posts"] == 1
    with services.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(POST.c.external_id, POST.c.text)).all())
        topic = conn.execute(
            sa.select(POST.c.topic).where(POST.c.external_id == "1000001")
        ).scalar_one()
    assert rows["1000001"] == "" and rows["1000002"] != ""
    assert topic == "pothole"
    assert purge(services.engine, now=now + timedelta(days=1), posts_days=90)["posts"] == 0


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 617-555-0123 now", "call [phone] now"),
        ("(617) 555 0123", "[phone]"),
        ("+44 20 7946 0958", "[phone]"),
        ("write to jane.doe+city@example.org", "write to [email]"),
        ("case #101004567890 opened 2026-11-20", "case #101004567890 opened 2026-11-20"),
        ("45 Blue Hill Ave", "45 Blue Hill Ave"),
    ],
)
def test_mask_pii(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


def test_job_state_rows_are_per_city(services: Services) -> None:
    Scheduler(services.engine, services.cities.default.id).add("x", lambda: None, every_seconds=5)
    with services.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(JobState.__table__)).scalar_one()
            == 0
        )
