from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.cli import main
from civic_listener.settings import DEMO_CORPUS
from classifiers.api import SENTIMENTS, TOPICS, URGENCIES
from models.db import make_engine
from models.store import POST
from tests.helpers import post, write_jsonl

OUTPUT_KEYS = {
    "id",
    "relevant",
    "relevance_score",
    "topic",
    "topic_score",
    "urgency",
    "urgency_score",
    "sentiment",
    "sentiment_score",
    "language",
    "locations",
}


def test_classify_keeps_input_order_and_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [
        "Huge pothole at the corner of Tremont and Boylston @BOS311",
        "I smell gas on Adams St in Dorchester, strong!!",
        "go celtics",
        "",
        "Hay basura en la calle desde hace una semana",
    ] * 3
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--input", str(inp), "--output", str(out), "--batch-size", "4"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(len(texts)))
    for r in rows:
        assert set(r) == OUTPUT_KEYS
        assert r["topic"] in TOPICS and r["urgency"] in URGENCIES and r["sentiment"] in SENTIMENTS
        assert r["relevant"] == (r["topic"] != "none")
        assert 0.0 <= r["topic_score"] <= 1.0
    assert rows[0]["topic"] == "pothole" and rows[0]["locations"]
    assert rows[1]["urgency"] == "emergency"
    assert rows[4]["language"] == "es"


def test_classify_reports_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": 1, "text": "pothole"}\nnot json\n{"id": 2}\n')
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--input", str(inp), "--output", str(out)]) == 1
    assert len(out.read_text().splitlines()) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "line 3" in err


def test_ingest_then_run_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("CIVIC_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CIVIC_REPLAY_FILE", str(DEMO_CORPUS))
    f = write_jsonl(tmp_path / "p.jsonl", [post(1), post(2, "streetlight out"), "{bad"])
    assert main(["ingest", str(f), "--format", "post"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (stats["stored"], stats["quarantined"], stats["classified"]) == (2, 1, 2)
    assert main(["run", "--once"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["stats"]["stored"] > 400
    assert all(out["jobs"].values())
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(POST).where(POST.c.classified_at.is_(None))
            ).scalar_one()
            == 0
        )
    engine.dispose()


def test_config_error_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("batch_size = 0\n")
    assert main(["--config", str(cfg), "migrate"]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIVIC_DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["migrate"]) == 0
    assert "schema at revision" in capsys.readouterr().out


def test_bench_json_small(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["bench", "--json", "--posts", "600", "--only", "replay", "--only", "classify"]) == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert figures["replay"]["stored"] == 600
    assert figures["replay"]["posts_per_s"] > 0 and figures["replay"]["peak_memory_mb"] > 0
    assert figures["classify"]["posts_per_s"] > 0
    # what they were measured on: a reference figure scales them between machines
    assert figures["machine"]["cores"] >= 1 and figures["machine"]["python_loop_10m_seconds"] > 0


def test_train_passes_the_trainers_options_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import classifiers

    seen: list[list[str]] = []
    monkeypatch.setattr(classifiers, "train_main", lambda argv: seen.append(argv) or 0)
    assert main(["train", "--force", "--out", "/tmp/x", "--limit", "5"]) == 0
    assert seen == [["--force", "--out", "/tmp/x", "--limit", "5"]]
    with pytest.raises(SystemExit):
        main(["health", "--force"])  # other commands still refuse unknown options
