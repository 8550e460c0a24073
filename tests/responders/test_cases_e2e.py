"""End to end: ``civic-listener run --once`` with automatic filing against the fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import civic_listener.wiring as wiring
from civic_listener.cli import main
from models.db import make_engine
from models.tables import ServiceRequest
from tests.fakes.classifier import KeywordClassifier
from tests.fakes.open311 import FakeOpen311, geo_post
from tests.helpers import write_jsonl

KEY = "k-e2e-31c7"


@pytest.fixture
def fake() -> Iterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY).start()
    yield server
    server.stop()


def test_run_once_files_each_actionable_complaint_exactly_once(
    fake: FakeOpen311,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        geo_post(1, "@BOS311 huge pothole on Dorchester Ave near Savin Hill", 42.3118, -71.0532),
        geo_post(2, "street light out on Adams St again", 42.2870, -71.0560),
        geo_post(3, "trash not picked up on Centre St", 42.3110, -71.1140),
        geo_post(4, "same pothole on Dorchester Ave, still there", 42.3119, -71.0533),  # duplicate
        geo_post(5, "there's a pothole somewhere in this city"),  # no location: waits
        geo_post(6, "I smell gas on Boylston St", 42.35, -71.07),  # emergency: never filed
        geo_post(7, "snow not plowed on my street", 42.30, -71.06),  # no service code
        geo_post(8, "go celtics", 42.36, -71.06),
    ]
    replay = write_jsonl(tmp_path / "replay.jsonl", rows)
    db = tmp_path / "e2e.db"
    for name, value in {
        "CIVIC_DATABASE_URL": f"sqlite:///{db}",
        "CIVIC_REPLAY_FILE": str(replay),
        "CIVIC_OPEN311_URL": fake.url,
        "CIVIC_OPEN311_API_KEY": KEY,
        "CIVIC_OPEN311_JURISDICTION_ID": "boston.gov",
        "CIVIC_CASES_AUTO_FILE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(wiring, "default_classifier_factory", lambda settings: KeywordClassifier)

    assert main(["run", "--once"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["jobs"]["cases_outbox"] is True
    assert main(["run", "--once"]) == 0  # a second run files nothing again

    posts = fake.posts()
    assert len(posts) == 3 == len(fake.requests)
    by_code = {p.field("service_code"): p for p in posts}
    assert set(by_code) == {"REQPOTHL", "STRLGTOUT", "EMPLITBSKT"}
    expected = {"REQPOTHL": rows[0], "STRLGTOUT": rows[1], "EMPLITBSKT": rows[2]}
    for code, row in expected.items():
        sent = by_code[code]
        assert float(sent.field("lat") or 0) == pytest.approx(row["lat"])
        assert float(sent.field("long") or 0) == pytest.approx(row["lon"])
        assert row["url"] in (sent.field("description") or "")
        assert sent.field("jurisdiction_id") == "boston.gov"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.select(ServiceRequest.status, sa.func.count()).group_by(ServiceRequest.status)  # type: ignore[call-overload]
            ).all()
        )
    engine.dispose()
    assert statuses == {"open": 3, "pending": 1}  # filed, then read back by status sync


def test_cases_check_reports_codes_the_server_lacks(
    fake: FakeOpen311,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.services = [s for s in fake.services if s["service_code"] != "TREEMAINT"]
    monkeypatch.setenv("CIVIC_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CIVIC_OPEN311_URL", fake.url)
    assert main(["cases", "check"]) == 0
    report = json.loads(capsys.readouterr().out)["default"]
    assert report["mapped_codes_not_offered"] == ["TREEMAINT"]
    assert report["filing_live"] is False  # a URL alone (dry run, no auto-filing) files nothing
    assert main(["cases", "run"]) == 0
    assert fake.posts() == []
    fake.stop()
    assert main(["cases", "check"]) == 1
    assert "could not be reached" in capsys.readouterr().out
