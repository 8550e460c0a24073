"""The frame on a real PostgreSQL server (started by scripts/run-tests.sh)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from civic_listener.service import run_once
from civic_listener.settings import load_settings
from civic_listener.wiring import build_services
from listener.replay import ReplaySource
from models.store import CLASSIFICATION, POST, lock_for_write, pending_posts
from tests.fakes.classifier import KeywordClassifier
from tests.helpers import post, write_jsonl

pytestmark = pytest.mark.postgres


def test_migrations_match_models_on_postgres(pg_url: str) -> None:
    services = build_services(
        load_settings(database_url=pg_url, replay_file=None), classifier=KeywordClassifier()
    )
    with services.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    services.close()


def test_pipeline_on_postgres(pg_url: str, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl", [post(i, f"pothole {i}") for i in range(50)] + [post(3), "{bad"]
    )
    services = build_services(
        load_settings(database_url=pg_url, replay_file=path), classifier=KeywordClassifier()
    )
    report = run_once(services)
    assert (report.stats.stored, report.stats.duplicates, report.stats.quarantined) == (50, 1, 1)
    with services.engine.connect() as conn:
        created = conn.execute(sa.select(POST.c.created_at).limit(1)).scalar_one()
        assert created.tzinfo is not None
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(CLASSIFICATION)).scalar_one() == 250
        )
    assert run_once(services).stats.received == 0
    services.close()


def test_two_workers_never_claim_the_same_posts(pg_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [post(i) for i in range(40)])
    services = build_services(
        load_settings(database_url=pg_url, replay_file=None), classifier=KeywordClassifier()
    )
    services.pipeline.ingest("t", list(ReplaySource("t", path).iter_items(None, threading.Event())))
    city = services.cities.default.id
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]

    def worker(k: int) -> None:
        with services.engine.begin() as conn:
            lock_for_write(conn)
            rows = pending_posts(conn, city_id=city, limit=25)
            claimed[k] = [r[0] for r in rows]
            barrier.wait(timeout=10)  # both hold their claims at once

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == 40
    services.close()


def test_reply_drafting_is_serialised_per_city(pg_url: str) -> None:
    """Two workers drafting for one city take turns (no post drafted twice); other cities don't
    wait."""
    from models.store import lock_reply_drafting

    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as holder:
            lock_reply_drafting(holder, 1)
            with engine.connect() as other:
                with (
                    pytest.raises(sa.exc.OperationalError, match="lock timeout"),
                    other.begin(),
                ):
                    other.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
                    lock_reply_drafting(other, 1)
                with other.begin():
                    other.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
                    lock_reply_drafting(other, 2)  # another city: at once
        with engine.begin() as after:  # released with the holder's transaction
            after.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            lock_reply_drafting(after, 1)
    finally:
        engine.dispose()
