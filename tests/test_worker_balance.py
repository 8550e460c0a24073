"""How several workers share labelling: the backlog the lease holder looks at before it
labels (``pending_count``) and the scheduled labelling job's cap in the service loop, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from civic_listener.service import build_scheduler
from civic_listener.settings import load_settings
from civic_listener.wiring import Services, build_services
from listener.replay import ReplaySource
from models.store import POST, pending_count
from models.tables import ReplyTemplate
from models.types import utcnow
from tests.fakes.classifier import KeywordClassifier
from tests.helpers import post, write_jsonl

N = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Services whose database holds ``N`` stored, unlabelled posts."""
    url = (
        f"sqlite:///{tmp_path}/balance.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    path = write_jsonl(tmp_path / "p.jsonl", [post(i, f"pothole on Street {i}") for i in range(N)])
    services = build_services(
        load_settings(database_url=url, replay_file=None, batch_size=5),
        classifier=KeywordClassifier(),
        with_sources=False,
    )
    source = ReplaySource("replay", path)
    items = list(source.iter_items(None, threading.Event()))
    assert services.pipeline.ingest("replay", items).stored == N
    yield services
    services.close()


def _waiting(services: Services, cap: int = 1000) -> int:
    with services.engine.connect() as conn:
        return pending_count(conn, city_ids=[c.id for c in services.cities], cap=cap)


def _labelled(services: Services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(POST.c.classified_at.is_not(None))
        ).scalar_one()


def test_pending_count_counts_unlabelled_posts_up_to_the_cap(stored: Services) -> None:
    assert _waiting(stored) == N
    assert _waiting(stored, cap=7) == 7
    with stored.engine.connect() as conn:
        assert pending_count(conn, city_ids=[-1], cap=1000) == 0  # another city's backlog
    assert stored.pipeline.classify_pending(limit=5) == 5
    assert _waiting(stored) == N - 5


def test_pending_count_includes_posts_another_worker_has_claimed(stored: Services) -> None:
    """A claimed batch is still work not done: the lease holder counts it (and takes no lock)."""
    from models.store import lock_for_write, pending_posts

    city = stored.cities.default.id
    if stored.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: a claim blocks other writers, not readers")
    with stored.engine.begin() as claim:
        lock_for_write(claim)
        assert len(pending_posts(claim, city_id=city, limit=5)) == 5
        assert _waiting(stored) == N  # read on another connection while the claim is held


def test_scheduled_labelling_takes_at_most_one_batch_in_the_service_loop(
    stored: Services,
) -> None:
    loop_job = build_scheduler(stored, label_limit=5)
    assert loop_job.run_job("classify_pending")
    assert _labelled(stored) == 5  # the loop labels the rest; the job only keeps posts moving
    assert build_scheduler(stored).run_job("classify_pending")  # run --once: everything
    assert _labelled(stored) == N
    assert _waiting(stored) == 0


def test_workers_starting_together_store_the_shipped_templates_once(pg_url: str) -> None:
    """A worker storing the shipped reply templates while another, started at the same
    moment, has just stored one of them: it skips that one instead of failing to start."""
    from responders.replies.defaults import TEMPLATES
    from responders.replies.templates import ensure_defaults

    services = build_services(
        load_settings(database_url=pg_url, replay_file=None),
        classifier=KeywordClassifier(),
        with_sources=False,
        with_responders=False,
    )
    table = ReplyTemplate.__table__  # type: ignore[attr-defined]
    city = services.cities.default.id
    key, by_lang = next(iter(TEMPLATES.items()))
    lang, body = next(iter(by_lang.items()))
    added: list[int] = []
    errors: list[BaseException] = []

    def start_worker() -> None:
        try:
            added.append(ensure_defaults(services.engine, city_id=city))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        with services.engine.connect() as other:  # the other worker, mid-transaction
            other.execute(
                table.insert().values(
                    city_id=city, key=key, language=lang, body=body, updated_at=utcnow()
                )
            )
            worker = threading.Thread(target=start_worker)
            worker.start()
            deadline = time.monotonic() + 20
            with services.engine.connect() as watch:  # until it waits on that template's key
                while not watch.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                ).scalar_one():
                    assert time.monotonic() < deadline and worker.is_alive(), errors
                    time.sleep(0.05)
            other.commit()
        worker.join(timeout=20)
        assert not errors, errors
        total = sum(len(v) for v in TEMPLATES.values())
        assert added == [total - 1]
        assert ensure_defaults(services.engine, city_id=city) == 0
        with services.engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.city_id == city)
            ).scalar_one()
        assert stored == total
    finally:
        services.close()
