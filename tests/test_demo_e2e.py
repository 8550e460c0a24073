"""The demo corpus end to end, with the shipped classifier: every post stored once,
duplicates, reposts and the city's own replies handled, malformed lines quarantined,
every label stored."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import sqlalchemy as sa

from civic_listener.service import run_once
from civic_listener.settings import DEMO_CORPUS, Settings
from civic_listener.wiring import build_services
from classifiers.api import SENTIMENTS, TOPICS, URGENCIES
from models.store import CLASSIFICATION, POST
from models.tables import QuarantinedPayload


def _expected() -> tuple[Counter, int, list[dict]]:
    expect: Counter = Counter()
    malformed = 0
    stored = []
    for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            malformed += 1
            continue
        if "text" not in obj:
            malformed += 1
            continue
        expect[obj["expect"]] += 1
        if obj["expect"] == "store":
            stored.append(obj)
    return expect, malformed, stored


def test_demo_corpus_covers_the_taxonomy() -> None:
    expect, malformed, stored = _expected()
    assert len(stored) >= 400 and malformed >= 1
    assert expect["duplicate"] and expect["repost"] and expect["own_account"]
    assert {p["labels"]["topic"] for p in stored} == set(TOPICS)
    assert {p["labels"]["urgency"] for p in stored} == set(URGENCIES)
    assert {p["labels"]["sentiment"] for p in stored} == set(SENTIMENTS)
    assert {"en", "es", "ht", "vi", "zh"} <= {p["labels"]["language"] for p in stored}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, real_classifier):  # type: ignore[no-untyped-def]
    from civic_listener.settings import load_settings

    db = tmp_path_factory.mktemp("demo") / "demo.db"
    settings: Settings = load_settings(database_url=f"sqlite:///{db}", replay_file=DEMO_CORPUS)
    services = build_services(settings, classifier=real_classifier)
    report = run_once(services)
    yield services, report
    services.close()


def test_every_post_stored_once_and_labelled(demo_run) -> None:  # type: ignore[no-untyped-def]
    services, report = demo_run
    expect, malformed, stored = _expected()
    s = report.stats
    assert s.stored == len(stored) == expect["store"]
    assert s.duplicates == expect["duplicate"]
    assert s.reposts == expect["repost"]
    assert s.own == expect["own_account"]
    assert s.quarantined == malformed
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(POST)).scalar_one() == len(
            stored
        )
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(POST).where(POST.c.classified_at.is_(None))
            ).scalar_one()
            == 0
        )
        per_task = dict(
            conn.execute(
                sa.select(CLASSIFICATION.c.task, sa.func.count()).group_by(CLASSIFICATION.c.task)
            ).all()
        )
        reasons = conn.execute(sa.select(QuarantinedPayload.reason)).scalars().all()
    for task in ("relevance", "topic", "urgency", "sentiment", "language"):
        assert per_task[task] == len(stored)
    assert per_task.get("location", 0) > 0
    assert len(reasons) == malformed and all(reasons)


def test_labels_agree_with_the_corpus(demo_run) -> None:  # type: ignore[no-untyped-def]
    """A floor, not the evaluation: the shipped model must get most of the demo right."""
    services, _ = demo_run
    _, _, stored = _expected()
    truth = {(p["platform"], p["external_id"]): p["labels"] for p in stored}
    with services.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                POST.c.platform,
                POST.c.external_id,
                POST.c.relevant,
                POST.c.topic,
                POST.c.urgency,
                POST.c.detected_language,
            )
        ).all()
    n = len(rows)
    relevance = sum(r.relevant == truth[(r.platform, r.external_id)]["relevant"] for r in rows) / n
    topic = sum(r.topic == truth[(r.platform, r.external_id)]["topic"] for r in rows) / n
    language = (
        sum(r.detected_language == truth[(r.platform, r.external_id)]["language"] for r in rows) / n
    )
    emergencies = [r for r in rows if truth[(r.platform, r.external_id)]["urgency"] == "emergency"]
    emergency_recall = sum(r.urgency == "emergency" for r in emergencies) / len(emergencies)
    assert relevance >= 0.8, relevance
    assert topic >= 0.6, topic
    assert language >= 0.9, language
    assert emergency_recall >= 0.7, emergency_recall


def test_rerun_is_idempotent(demo_run) -> None:  # type: ignore[no-untyped-def]
    services, _ = demo_run
    again = run_once(services)
    assert again.stats.stored == 0 and again.stats.received == 0
