from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from civic_listener.service import run_forever, run_once
from civic_listener.wiring import Services
from listener.replay import ReplaySource
from models.store import CLASSIFICATION, POST
from models.tables import QuarantinedPayload, SourceCursor
from tests.helpers import post, write_jsonl


def _count(services: Services, table: sa.Table, *where: object) -> int:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*where)
        ).scalar_one()


def _corpus(tmp_path: Path) -> Path:
    rows = [
        post(1, "Huge pothole on Dorchester Ave @BOS311!"),
        post(2, "trash not picked up again"),
        post(1, "Huge pothole on Dorchester Ave @BOS311!"),  # exact duplicate
        post(3, "RT @resident1: Huge pothole", repost_of_id="1000001"),
        post(4, "Thanks, case opened", author="BOS311", in_reply_to_id="1000001"),
        "{broken",
        post(5, "I smell gas on Adams St"),
        post(6, "go celtics"),
    ]
    return write_jsonl(tmp_path / "c.jsonl", rows)


def test_pipeline_stores_once_quarantines_and_labels(services: Services, tmp_path: Path) -> None:
    services.sources = [ReplaySource("replay", _corpus(tmp_path))]
    report = run_once(services)
    s = report.stats
    assert (s.stored, s.duplicates, s.reposts, s.own, s.quarantined) == (4, 1, 1, 1, 1)
    assert _count(services, POST) == 4
    assert _count(services, POST, POST.c.classified_at.is_(None)) == 0
    assert _count(services, QuarantinedPayload.__table__) == 1
    # five tasks per post, plus a location where one was found
    assert _count(services, CLASSIFICATION, CLASSIFICATION.c.task != "location") == 20
    with services.engine.connect() as conn:
        row = conn.execute(
            sa.select(POST.c.topic, POST.c.urgency, POST.c.repost_count, POST.c.neighborhood).where(
                POST.c.external_id == "1000001"
            )
        ).one()
        assert row == ("pothole", "normal", 1, "Dorchester")
        stamp = conn.execute(
            sa.select(
                CLASSIFICATION.c.component, CLASSIFICATION.c.version, CLASSIFICATION.c.artifact_hash
            ).limit(1)
        ).one()
        assert stamp == ("keyword-test", "0.0.1", "0" * 64)
        reason = conn.execute(sa.select(QuarantinedPayload.reason)).scalar_one()
        assert "not valid JSON" in reason


def test_second_run_resumes_from_cursor_and_adds_nothing(
    services: Services, tmp_path: Path
) -> None:
    path = _corpus(tmp_path)
    services.sources = [ReplaySource("replay", path)]
    run_once(services)
    again = run_once(services)
    assert again.stats.received == 0
    assert _count(services, POST) == 4
    with services.engine.connect() as conn:
        cursor = conn.execute(sa.select(SourceCursor.cursor)).scalar_one()
    assert int(cursor) == path.stat().st_size


def test_crash_between_store_and_label_loses_nothing(services: Services, tmp_path: Path) -> None:
    items = list(ReplaySource("replay", _corpus(tmp_path)).iter_items(None, threading.Event()))
    services.pipeline.ingest("replay", items)  # stored; the process "dies" before labelling
    assert _count(services, POST, POST.c.classified_at.is_(None)) == 4
    assert services.pipeline.classify_pending() == 4
    assert _count(services, POST, POST.c.classified_at.is_(None)) == 0


def test_classifies_in_batches(services: Services, tmp_path: Path, keyword_classifier) -> None:  # type: ignore[no-untyped-def]
    services.settings.batch_size = 1000
    path = write_jsonl(
        tmp_path / "big.jsonl", [post(i, f"pothole number {i}") for i in range(2500)]
    )
    services.sources = [ReplaySource("replay", path)]
    services._pipeline = None
    run_once(services)
    assert _count(services, POST) == 2500
    assert max(keyword_classifier.calls) == 1000
    assert sum(keyword_classifier.calls) == 2500


def test_deletion_leaves_a_tombstone(services: Services, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            post(1, "my address is 12 Elm St, pothole"),
            {"platform": "x", "external_id": "1000001", "deleted": True},
        ],
    )
    services.sources = [ReplaySource("replay", path)]
    assert run_once(services).stats.deleted == 1
    with services.engine.connect() as conn:
        text, status, deleted = conn.execute(
            sa.select(POST.c.text, POST.c.status, POST.c.deleted_at)
        ).one()
    assert (text, status) == ("", "deleted") and deleted is not None
    # replaying the original again does not bring it back
    services.sources = [ReplaySource("replay2", path)]
    run_once(services)
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(POST.c.text)).scalar_one() == ""


def test_sent_replies_are_not_imported_back(services: Services, tmp_path: Path) -> None:
    from sqlmodel import Session

    from models.tables import Reply

    path = write_jsonl(tmp_path / "a.jsonl", [post(1)])
    services.sources = [ReplaySource("a", path)]
    run_once(services)
    with Session(services.engine) as s:
        s.add(
            Reply(
                city_id=services.cities.default.id,
                post_id=1,
                platform="x",
                text="We're on it",
                state="sent",
                idempotency_key="k1",
                platform_reply_id="999",
            )
        )
        s.commit()
    path2 = write_jsonl(
        tmp_path / "b.jsonl", [post(2) | {"external_id": "999", "author": "some_staffer"}]
    )
    services.sources = [ReplaySource("b", path2)]
    assert run_once(services).stats.own == 1
    assert _count(services, POST) == 1


def test_run_forever_stops_cleanly(services: Services, tmp_path: Path) -> None:
    services.sources = [ReplaySource("replay", _corpus(tmp_path))]
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    report = run_forever(services, stop, flush_seconds=0.1)
    timer.join()
    assert report.stats.stored == 4
    assert report.health["replay"].state == "finished"
    assert _count(services, POST, POST.c.classified_at.is_(None)) == 0


def test_a_source_leased_by_another_worker_is_skipped(services: Services, tmp_path: Path) -> None:
    from civic_listener.leases import SourceLease

    services.sources = [ReplaySource("replay", _corpus(tmp_path))]
    other = SourceLease(services.engine, "replay")
    assert other.acquire()
    try:
        report = run_once(services)
        assert report.health["replay"].state == "leased_elsewhere"
        assert report.stats.stored == 0
    finally:
        other.release()
    assert run_once(services).stats.stored == 4
